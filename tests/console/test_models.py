"""Model pages: list, detail with versions, version page (card, metrics, signature,
verification, stage and alias history), card form for holders of `change`, download for
holders of `download`."""

from __future__ import annotations

from django_tenants.utils import schema_context

from registry.models import ModelCard
from tests.console.conftest import html


def _version_url(world, number=1):
    return f"/t/alpha/models/{world.model.pk}/versions/{number}/"


def test_model_list_and_detail(world, page_as):
    client = page_as("rita")
    listing = html(client.get("/t/alpha/models/"))
    assert "churn-classifier" in listing
    assert 'class="badge stage-production">v1<' in listing
    assert "@champion" in listing
    body = html(client.get(f"/t/alpha/models/{world.model.pk}/"))
    assert body.count('class="badge ok">verified<') == 2
    assert f'href="{_version_url(world, 2)}"' in body


def test_version_page_shows_card_metrics_signature_verification_and_history(world, page_as):
    # given v1 with a card, metrics, a signature, promoted to production with reasons
    response = page_as("rita").get(_version_url(world))
    assert response.status_code == 200
    body = html(response)
    assert "<title>churn-classifier v1 · Alpha · mlgov</title>" in body
    assert "Rank customers for retention offers." in body
    assert ">roc_auc<" in body
    assert ">tenure<" in body
    assert "verified and signed" in body
    assert "Offline metrics pass." in body
    assert "Approved in review." in body
    assert "alias set" in body


# (username, offered the card form, offered the download)
ACTIONS = [("mia", True, True), ("alice", True, True), ("rita", False, False),
           ("victor", False, False), ("audrey", False, False)]


def test_actions_are_offered_only_with_their_permission(world, page_as):
    for username, change, download in ACTIONS:
        body = html(page_as(username).get(_version_url(world)))
        assert (f"{_version_url(world)}card/" in body) is change, username
        assert (f"{_version_url(world)}download/" in body) is download, username


def test_maintainer_edits_the_model_card(world, alpha, page_as):
    client = page_as("mia")
    form = client.get(_version_url(world) + "card/")
    assert form.status_code == 200
    assert 'for="id_intended_use"' in html(form)
    # when she saves a new card
    response = client.post(
        _version_url(world) + "card/",
        {"intended_use": "Retention offers in DE.", "limitations": "No data before 2023."},
    )
    # then she is back on the version page with a notice, and the card was replaced
    assert response.status_code == 302
    page = html(client.get(response["Location"]))
    assert "The model card was saved." in page
    with schema_context(alpha.schema_name):
        card = ModelCard.objects.get(model_version=world.version)
    assert card.intended_use == "Retention offers in DE."
    assert card.out_of_scope_use == ""


def test_card_form_refuses_those_without_change(world, page_as):
    for username in ("rita", "victor"):
        client = page_as(username)
        assert client.get(_version_url(world) + "card/").status_code == 403
        assert client.post(_version_url(world) + "card/", {"owners": "x"}).status_code == 403


def test_card_field_too_long_is_a_form_error(world, page_as):
    response = page_as("mia").post(_version_url(world) + "card/", {"owners": "x" * 20_001})
    assert response.status_code == 200
    assert 'class="error"' in html(response)


def test_model_download_for_holders_only(world, page_as):
    url = _version_url(world) + "download/"
    response = page_as("mia").get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"PK"  # a skops file is a zip
    assert page_as("victor").get(url).status_code == 403


def test_invisible_models_are_404(world, page_as):
    client = page_as("bob")
    model = world.model.pk
    for path in (f"models/{model}/", "models/1/versions/1/", f"models/{model}/versions/1/",
                 f"models/{model}/versions/1/card/", f"models/{model}/versions/1/download/",
                 "models/999999999999999999/"):
        assert client.get(f"/t/alpha/{path}").status_code == 404, path
    assert "Nothing has been shared with you yet" in html(client.get("/t/alpha/models/"))
