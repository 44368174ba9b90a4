"""Dataset pages: list, detail with versions and schema, version page, download only with
the download permission; invisible datasets are a 404."""

from __future__ import annotations

import pytest

from tests.console.conftest import html


def test_dataset_list_shows_the_visible_datasets(world, page_as):
    # given mia's dataset / when victor (viewer) lists datasets
    response = page_as("victor").get("/t/alpha/datasets/")
    # then he sees it, with its version count
    assert response.status_code == 200
    assert "<title>Datasets · Alpha · mlgov</title>" in html(response)
    assert f'href="/t/alpha/datasets/{world.dataset.pk}/"' in html(response)


def test_dataset_list_search_and_empty_states(world, page_as):
    client = page_as("mia")
    # when mia searches for a name nobody used / then she is told no dataset matches
    assert "No dataset matches" in html(client.get("/t/alpha/datasets/?q=nothing-like-it"))
    # and bob, who sees nothing, is told whom to ask
    assert "Nothing has been shared with you yet" in html(page_as("bob").get("/t/alpha/datasets/"))


def test_dataset_detail_shows_schema_with_sensitive_and_pii_columns(world, page_as):
    # given a version with target churned, sensitive age and gender, PII email
    body = html(page_as("victor").get(f"/t/alpha/datasets/{world.dataset.pk}/"))
    # then the schema marks each of them
    assert "customer_id" in body
    assert 'class="badge info">target<' in body
    assert body.count('class="badge warn">sensitive<') == 2
    assert 'class="badge bad">PII<' in body


def test_download_is_offered_only_with_the_download_permission(world, page_as):
    # given the version page / when each persona opens it
    url = f"/t/alpha/datasets/{world.dataset.pk}/versions/1/"
    for username, offered in (("mia", True), ("alice", True), ("victor", False),
                              ("rita", False)):
        body = html(page_as(username).get(url))
        # then only holders of `download` see the link
        assert (f"{url}download/" in body) is offered, username


def test_download_streams_the_file_for_holders_and_403s_for_viewers(world, page_as):
    url = f"/t/alpha/datasets/{world.dataset.pk}/versions/1/download/"
    # when mia downloads / then she gets the CSV
    response = page_as("mia").get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"customer_id,age")
    assert response["Content-Disposition"] == 'attachment; filename="churn-v1.csv"'
    # when victor (may see, not download) asks for it / then 403
    assert page_as("victor").get(url).status_code == 403


def test_version_page_counts_usage_and_links_lineage(world, page_as):
    body = html(page_as("victor").get(f"/t/alpha/datasets/{world.dataset.pk}/versions/1/"))
    assert "3 runs" in body
    assert f"?node=dataset_version:{world.dataset_version.pk}" in body


@pytest.mark.parametrize("path", ["datasets/{pk}/", "datasets/{pk}/versions/1/",
                                  "datasets/{pk}/versions/1/download/",
                                  "datasets/{pk}/versions/9/", "datasets/999999999999999999/",
                                  "datasets/9999999999999999999/"])
def test_invisible_or_missing_datasets_are_404(world, page_as, path):
    # given bob, who may see no dataset / then every dataset page is a 404 for him
    url = "/t/alpha/" + path.format(pk=world.dataset.pk)
    assert page_as("bob").get(url).status_code == 404


def test_another_tenants_member_gets_nothing(world, beta, page_as):
    # given carol signed in to beta
    client = page_as("carol", tenant=beta)
    # when she names alpha's dataset id under her own tenant / then it means nothing there
    assert client.get(f"/t/beta/datasets/{world.dataset.pk}/").status_code == 404
    # when she opens it under alpha's path / then alpha's console asks her to sign in there
    # (her session exists in beta's schema only; the test client sends every cookie, a
    # browser would not even send beta's under /t/alpha/)
    response = client.get(f"/t/alpha/datasets/{world.dataset.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/t/alpha/login/")
