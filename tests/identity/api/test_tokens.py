"""API tokens: stored only as a hash, a visible prefix, expiry, revocation, scopes, own only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from mlgov.identity.models import ApiToken
from tests.conftest import TenantApi, issue_token


def error_code(response) -> str:
    return response.json()["error"]["code"]


def rows_as_text(schema: str, table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT t::text FROM "{schema}"."{table}" t')
        return [row[0] for row in cursor.fetchall()]


def bearer(api: TenantApi, plaintext: str) -> TenantApi:
    return TenantApi(api.tenant_slug, api.client, f"Bearer {plaintext}")


def test_plaintext_is_shown_once_and_stored_nowhere(alpha, api_as):
    # given alice with an admin token
    api = api_as(alpha, "alice")
    # when she creates a token, then uses it, lists it and revokes it
    created = api.post("api/v1/tokens/", {"name": "notebook", "scope": "write"})
    assert created.status_code == 201
    plaintext = created.json()["token"]
    secret = plaintext.split("_", 2)[2]
    token_id = created.json()["id"]
    assert bearer(api, plaintext).get("api/v1/tokens/").status_code == 200
    listed = api.get("api/v1/tokens/").json()["results"]
    shown = api.get(f"api/v1/tokens/{token_id}/").json()
    api.post(f"api/v1/tokens/{token_id}/revoke/")
    # then neither the token table nor any audit table (tenant or public) holds it
    for schema, table in [
        (alpha.schema_name, "identity_apitoken"),
        (alpha.schema_name, "audit_auditevent"),
        ("public", "identity_apitoken"),
        ("public", "audit_auditevent"),
    ]:
        for row in rows_as_text(schema, table):
            assert secret not in row, f"token secret found in {schema}.{table}"
    with schema_context(alpha.schema_name):
        stored = ApiToken.objects.get(pk=token_id)
        assert stored.token_hash != plaintext
        assert len(stored.token_hash) == 64
        assert AuditEvent.objects.filter(action="token.issue", object_id=str(token_id)).exists()
    # and after creation the API never shows it again
    assert all("token" not in item for item in listed)
    assert "token" not in shown


def test_token_carries_a_visible_prefix(alpha, api_as):
    # given alice / when she creates a token
    created = api_as(alpha, "alice").post("api/v1/tokens/", {"name": "ci"}).json()
    # then the token starts with its prefix, which the list shows to tell tokens apart
    assert created["token"].startswith(f"mlg_{created['prefix']}_")
    assert len(created["prefix"]) == 10
    listed = api_as(alpha, "alice").get("api/v1/tokens/").json()["results"]
    assert created["prefix"] in {item["prefix"] for item in listed}


def test_new_token_defaults_to_read_scope_and_ninety_days(alpha, api_as):
    # given alice / when she creates a token naming only its name
    created = api_as(alpha, "alice").post("api/v1/tokens/", {"name": "ci"}).json()
    # then it may only read and expires in 90 days
    assert created["scope"] == "read"
    with schema_context(alpha.schema_name):
        token = ApiToken.objects.get(pk=created["id"])
    remaining = token.expires_at - timezone.now()
    assert timedelta(days=89) < remaining <= timedelta(days=90)


def test_expired_token_is_refused_with_token_expired(alpha, api_as):
    # given mia's token, expired a second ago
    api = api_as(alpha, "mia", scope="read")
    with schema_context(alpha.schema_name):
        ApiToken.objects.filter(user__username="mia").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    # when she uses it
    response = api.get("api/v1/tokens/")
    # then 401 token_expired, with a challenge naming the scheme
    assert response.status_code == 401
    assert error_code(response) == "token_expired"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("how", ["delete", "revoke"])
def test_revoked_token_is_refused_with_token_revoked(alpha, api_as, how):
    # given alice with a second token for her notebook
    api = api_as(alpha, "alice")
    created = api.post("api/v1/tokens/", {"name": "notebook", "scope": "read"}).json()
    notebook = bearer(api, created["token"])
    assert notebook.get("api/v1/tokens/").status_code == 200
    # when she revokes it (DELETE or POST .../revoke/)
    if how == "delete":
        response = api.delete(f"api/v1/tokens/{created['id']}/")
    else:
        response = api.post(f"api/v1/tokens/{created['id']}/revoke/")
    # then it is marked revoked, audited, and refused from now on
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    refused = notebook.get("api/v1/tokens/")
    assert refused.status_code == 401
    assert error_code(refused) == "token_revoked"
    with schema_context(alpha.schema_name):
        event = AuditEvent.objects.get(action="token.revoke", object_id=str(created["id"]))
        assert event.actor_username == "alice"


def test_revoking_twice_keeps_the_first_time(alpha, api_as):
    # given a revoked token
    api = api_as(alpha, "alice")
    created = api.post("api/v1/tokens/", {"name": "notebook"}).json()
    first = api.post(f"api/v1/tokens/{created['id']}/revoke/").json()["revoked_at"]
    # when it is revoked again / then nothing changes and no second event is written
    second = api.delete(f"api/v1/tokens/{created['id']}/").json()["revoked_at"]
    assert first == second
    with schema_context(alpha.schema_name):
        assert (
            AuditEvent.objects.filter(action="token.revoke", object_id=str(created["id"])).count()
            == 1
        )


def test_a_token_can_revoke_itself(alpha, api_as):
    # given alice's admin token / when it revokes itself
    api = api_as(alpha, "alice")
    own_id = api.get("api/v1/tokens/").json()["results"][0]["id"]
    assert api.post(f"api/v1/tokens/{own_id}/revoke/").status_code == 200
    # then it stops working at once
    assert error_code(api.get("api/v1/tokens/")) == "token_revoked"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "api/v1/tokens/", {"name": "x"}),
        ("post", "api/v1/members/", {"username": "new", "role": "viewer"}),
        ("patch", "api/v1/members/{victor}/", {"role": "auditor"}),
        ("delete", "api/v1/members/{victor}/", None),
    ],
)
def test_read_token_cannot_write(alpha, api_as, method, path, body):
    # given alice (the owner) with a read-scoped token
    api = api_as(alpha, "alice", scope="read")
    victor = api_as(alpha, "alice").get("api/v1/members/").json()["results"]
    victor_id = next(m["id"] for m in victor if m["username"] == "victor")
    # when she writes
    call = getattr(api, method)
    target = path.format(victor=victor_id)
    response = call(target, body) if body is not None else call(target)
    # then 403 insufficient_scope, whatever her role allows
    assert response.status_code == 403
    assert error_code(response) == "insufficient_scope"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("api/v1/tokens/", {"name": "more", "scope": "read"}),
        ("api/v1/members/", {"username": "newbie", "role": "viewer"}),
    ],
)
def test_write_token_cannot_create_tokens_or_members(alpha, api_as, path, body):
    # given alice (the owner) with a write-scoped token
    api = api_as(alpha, "alice", scope="write")
    # when it tries to mint a token or add a member
    response = api.post(path, body)
    # then 403 insufficient_scope: a leaked write token cannot spread
    assert response.status_code == 403
    assert error_code(response) == "insufficient_scope"


def test_write_token_cannot_mint_a_wider_token(alpha, api_as):
    # given a write token / when it asks for an admin token
    response = api_as(alpha, "alice", scope="write").post(
        "api/v1/tokens/", {"name": "wider", "scope": "admin"}
    )
    # then it is refused and no token exists
    assert response.status_code == 403
    assert error_code(response) == "insufficient_scope"
    with schema_context(alpha.schema_name):
        assert not ApiToken.objects.filter(name="wider").exists()


def test_admin_token_mints_tokens_up_to_its_own_scope(alpha, api_as):
    # given an admin token / when it mints an admin and a read token
    api = api_as(alpha, "alice", scope="admin")
    # then both are issued with the scope asked for
    for scope in ("admin", "read"):
        response = api.post("api/v1/tokens/", {"name": scope, "scope": scope})
        assert response.status_code == 201
        assert response.json()["scope"] == scope


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scope": "root"},
        {"name": "x", "expires_days": 0},
        {"name": "x", "expires_days": 367},
        {"name": "x", "expires_days": "soon"},
        {"name": ""},
        {"name": "x" * 101},
        {},
    ],
)
def test_bad_token_requests_are_400(alpha, api_as, body):
    # given alice / when she asks for a malformed token / then 400 with the field named
    response = api_as(alpha, "alice").post("api/v1/tokens/", body)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert response.json()["error"]["details"]["fields"]


def test_tokens_list_shows_only_your_own(alpha, api_as):
    # given tokens of mia and of alice
    issue_token(alpha, "mia", "read")
    api = api_as(alpha, "alice")
    api.post("api/v1/tokens/", {"name": "second"})
    # when alice lists tokens
    listed = api.get("api/v1/tokens/").json()
    # then she sees her two tokens and none of mia's
    with schema_context(alpha.schema_name):
        mine = set(ApiToken.objects.filter(user__username="alice").values_list("id", flat=True))
    assert listed["count"] == 2
    assert {item["id"] for item in listed["results"]} == mine


def test_someone_elses_token_is_404_and_stays_valid(alpha, api_as):
    # given mia's token
    mia = api_as(alpha, "mia", scope="read")
    with schema_context(alpha.schema_name):
        mia_token_id = ApiToken.objects.get(user__username="mia").pk
    alice = api_as(alpha, "alice")
    # when alice (the owner) reads or revokes it
    # then it does not exist for her, and mia's token keeps working
    assert alice.get(f"api/v1/tokens/{mia_token_id}/").status_code == 404
    assert alice.delete(f"api/v1/tokens/{mia_token_id}/").status_code == 404
    assert alice.post(f"api/v1/tokens/{mia_token_id}/revoke/").status_code == 404
    assert mia.get("api/v1/tokens/").status_code == 200


@pytest.mark.parametrize("token_id", ["abc", "99999999999999999999", "-1", "1e3"])
def test_malformed_token_ids_are_404(alpha, api_as, token_id):
    # given alice / when she names a token id that cannot exist / then 404, never 500
    api = api_as(alpha, "alice")
    assert api.get(f"api/v1/tokens/{token_id}/").status_code == 404
    assert api.post(f"api/v1/tokens/{token_id}/revoke/").status_code == 404
    assert api.delete(f"api/v1/tokens/{token_id}/").status_code == 404


def test_format_suffix_routes_work_for_writes(alpha, api_as):
    # given alice / when she uses the .json twins of the token routes
    api = api_as(alpha, "alice")
    created = api.post("api/v1/tokens.json", {"name": "suffix"})
    # then they behave like the plain routes
    assert created.status_code == 201
    revoked = api.post(f"api/v1/tokens/{created.json()['id']}/revoke.json")
    assert revoked.status_code == 200
