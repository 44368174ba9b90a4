"""Members and tokens pages: owners manage members; auditors see them; everyone manages
their own tokens, each shown once."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from mlgov.identity.models import ApiToken
from tests.conftest import user_in
from tests.console.conftest import html


def test_access_goes_to_members_or_to_tokens(alpha, page_as):
    assert page_as("audrey").get("/t/alpha/access/")["Location"] == "/t/alpha/members/"
    assert page_as("mia").get("/t/alpha/access/")["Location"] == "/t/alpha/tokens/"


def test_owner_sees_members_with_roles_and_forms(alpha, page_as):
    body = html(page_as("alice").get("/t/alpha/members/"))
    assert "Add a member" in body
    assert ">Maintainer<" in body
    assert ">Auditor<" in body
    assert "/t/alpha/members/" in body
    assert "/role/" in body


def test_auditor_sees_members_without_forms(alpha, page_as):
    response = page_as("audrey").get("/t/alpha/members/")
    assert response.status_code == 200
    body = html(response)
    assert "Add a member" not in body
    assert "/role/" not in body
    assert "/deactivate/" not in body


def test_owner_adds_a_member_and_sees_the_one_time_password_once(alpha, page_as):
    client = page_as("alice")
    response = client.post("/t/alpha/members/", {"username": "nina", "email": "nina@alpha.test",
                                                 "role": "reviewer"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = html(response)
    assert 'data-testid="one-time-password"' in body
    # when she opens the page again / then the password is gone
    assert 'data-testid="one-time-password"' not in html(client.get("/t/alpha/members/"))
    with schema_context(alpha.schema_name):
        assert user_in(alpha, "nina").groups.get().name == "reviewer"


def test_adding_a_taken_name_is_a_form_error(alpha, page_as):
    response = page_as("alice").post("/t/alpha/members/", {"username": "mia", "role": "viewer"})
    assert response.status_code == 400
    assert "A member with this user name exists already." in html(response)


def test_owner_changes_a_role_resets_a_password_and_deactivates(alpha, page_as):
    client = page_as("alice")
    with schema_context(alpha.schema_name):
        victor = user_in(alpha, "victor")
    response = client.post(f"/t/alpha/members/{victor.pk}/role/", {"role": "reviewer"})
    assert response.status_code == 302
    assert "victor is now Reviewer." in html(client.get("/t/alpha/members/"))
    reset = client.post(f"/t/alpha/members/{victor.pk}/reset-password/")
    assert 'data-testid="one-time-password"' in html(reset)
    client.post(f"/t/alpha/members/{victor.pk}/deactivate/")
    with schema_context(alpha.schema_name):
        assert not user_in(alpha, "victor").is_active


def test_the_last_owner_cannot_demote_herself(alpha, page_as):
    client = page_as("alice")
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
    client.post(f"/t/alpha/members/{alice.pk}/role/", {"role": "viewer"})
    assert "The workspace keeps at least one active owner." in html(client.get("/t/alpha/members/"))


@pytest.mark.parametrize(("username", "status"), [("audrey", 403), ("mia", 404), ("bob", 404)])
def test_member_management_is_refused_to_non_owners(alpha, page_as, username, status):
    client = page_as(username)
    with schema_context(alpha.schema_name):
        victor = user_in(alpha, "victor")
    for path in (f"members/{victor.pk}/role/", f"members/{victor.pk}/deactivate/",
                 f"members/{victor.pk}/reset-password/"):
        assert client.post(f"/t/alpha/{path}", {"role": "owner"}).status_code == status, path
    added = client.post("/t/alpha/members/", {"username": "x", "role": "owner"})
    assert added.status_code == status
    with schema_context(alpha.schema_name):
        assert user_in(alpha, "victor").groups.get().name == "viewer"


def test_any_member_creates_a_token_shown_once_and_revokes_it(alpha, page_as):
    client = page_as("bob")
    response = client.post("/t/alpha/tokens/", {"name": "laptop", "scope": "read",
                                                "expires_days": "30"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = html(response)
    plaintext = body.split('id="new-token-value">')[1].split("<")[0]
    assert plaintext.startswith("mlg_")
    listing = html(client.get("/t/alpha/tokens/"))
    assert plaintext not in listing
    assert "laptop" in listing
    with schema_context(alpha.schema_name):
        token = ApiToken.objects.get(name="laptop")
    assert client.post(f"/t/alpha/tokens/{token.pk}/revoke/").status_code == 302
    with schema_context(alpha.schema_name):
        token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_form_errors_and_other_peoples_tokens(alpha, page_as):
    client = page_as("bob")
    response = client.post("/t/alpha/tokens/", {"name": "", "scope": "root", "expires_days": "999"})
    assert response.status_code == 400
    assert html(response).count('class="error"') == 3
    from mlgov.identity.services import token_issue
    with schema_context(alpha.schema_name):
        alices = token_issue(acting_user=None, user=user_in(alpha, "alice"), name="a",
                             scope="read").token
    assert client.post(f"/t/alpha/tokens/{alices.pk}/revoke/").status_code == 404
    assert "mlg_" + alices.prefix not in html(client.get("/t/alpha/tokens/"))
