"""Members endpoints: owners list, add, change roles and deactivate; the last owner stays;
every write is audited; members without the right role are refused."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from mlgov.identity.models import ApiToken, Membership
from mlgov.identity.services import token_issue
from tests.conftest import user_in


def error_code(response) -> str:
    return response.json()["error"]["code"]


def member_id(tenant, username: str) -> int:
    with schema_context(tenant.schema_name):
        return user_in(tenant, username).pk


def events(tenant, action: str) -> list[AuditEvent]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.filter(action=action))


def test_owner_lists_members_with_their_roles(alpha, api_as):
    # given alice, the owner / when she lists members
    response = api_as(alpha, "alice", scope="read").get("api/v1/members/")
    # then every member is there with their role, and nothing secret
    assert response.status_code == 200
    roles = {m["username"]: m["role"] for m in response.json()["results"]}
    assert roles == {
        "alice": "owner",
        "audrey": "auditor",
        "bob": None,
        "mia": "maintainer",
        "rita": "reviewer",
        "victor": "viewer",
    }
    assert all("password" not in m for m in response.json()["results"])


def test_members_filter_and_ordering(alpha, api_as):
    # given a deactivated member
    api = api_as(alpha, "alice")
    api.delete(f"api/v1/members/{member_id(alpha, 'victor')}/")
    # when alice filters on is_active and orders by user name, descending
    response = api.get("api/v1/members/?is_active=false&ordering=-username")
    # then only victor is listed
    assert [m["username"] for m in response.json()["results"]] == ["victor"]


def test_owner_adds_a_member_with_a_one_time_password(alpha, api_as):
    # given alice / when she adds nina as a reviewer
    response = api_as(alpha, "alice").post(
        "api/v1/members/", {"username": "nina", "email": "nina@alpha.test", "role": "reviewer"}
    )
    # then nina exists with that role and a one-time password she must change
    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "reviewer"
    assert len(body["one_time_password"]) >= 12
    with schema_context(alpha.schema_name):
        nina = user_in(alpha, "nina")
        assert nina.check_password(body["one_time_password"])
        assert Membership.objects.get(user=nina).must_change_password
    # and the write is audited with its actor
    (event,) = events(alpha, "member.create")[-1:]
    assert event.actor_username == "alice"
    assert event.actor_id == member_id(alpha, "alice")
    assert event.object_id == str(body["id"])
    assert event.after["role"] == "reviewer"


def test_owner_changes_a_role(alpha, api_as):
    # given alice / when she makes victor an auditor
    victor = member_id(alpha, "victor")
    response = api_as(alpha, "alice").patch(f"api/v1/members/{victor}/", {"role": "auditor"})
    # then his role changed, with before and after in the audit trail
    assert response.status_code == 200
    assert response.json()["role"] == "auditor"
    (event,) = events(alpha, "member.role_change")
    assert (event.actor_username, event.object_id) == ("alice", str(victor))
    assert (event.before["role"], event.after["role"]) == ("viewer", "auditor")


def test_owner_deactivates_a_member_whose_tokens_stop_working(alpha, api_as):
    # given mia with a working token
    mia = api_as(alpha, "mia", scope="read")
    assert mia.get("api/v1/tokens/").status_code == 200
    # when alice deactivates her
    response = api_as(alpha, "alice").delete(f"api/v1/members/{member_id(alpha, 'mia')}/")
    # then mia is inactive, her row stays, her tokens are revoked and refused
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    refused = mia.get("api/v1/tokens/")
    assert refused.status_code == 401
    assert error_code(refused) == "token_revoked"
    with schema_context(alpha.schema_name):
        assert not ApiToken.objects.filter(user__username="mia", revoked_at__isnull=True).exists()
    (event,) = events(alpha, "member.deactivate")
    assert event.actor_username == "alice"
    assert event.after["tokens_revoked"] == 1


def test_deactivated_members_token_is_refused_even_if_not_revoked(alpha, api_as):
    # given rita's token, and rita made inactive behind the service's back
    rita = api_as(alpha, "rita", scope="read")
    with schema_context(alpha.schema_name):
        user = user_in(alpha, "rita")
        user.is_active = False
        user.save(update_fields=["is_active"])
    # when she uses the token / then it is refused
    assert rita.get("api/v1/tokens/").status_code == 401


def test_deactivated_members_console_session_ends(alpha, api_as, console_login):
    # given mia signed in to the console
    client = console_login(alpha, "mia")
    assert client.get("/t/alpha/").status_code == 200
    # when alice deactivates her / then her session no longer signs her in
    api_as(alpha, "alice").delete(f"api/v1/members/{member_id(alpha, 'mia')}/")
    assert client.get("/t/alpha/").status_code == 302


def test_owner_resets_a_password(alpha, api_as):
    # given alice / when she resets rita's password
    rita = member_id(alpha, "rita")
    response = api_as(alpha, "alice").post(f"api/v1/members/{rita}/reset-password/")
    # then rita gets a new one-time password, and the reset is audited
    assert response.status_code == 200
    with schema_context(alpha.schema_name):
        assert user_in(alpha, "rita").check_password(response.json()["one_time_password"])
    (event,) = events(alpha, "member.password_reset")
    assert event.actor_username == "alice"


@pytest.mark.parametrize(("method", "body"), [("patch", {"role": "viewer"}), ("delete", None)])
def test_last_owner_cannot_be_demoted_or_deactivated(alpha, api_as, method, body):
    # given alice, the only owner
    api = api_as(alpha, "alice")
    alice = member_id(alpha, "alice")
    before = len(events(alpha, "member.role_change") + events(alpha, "member.deactivate"))
    # when she demotes or deactivates herself
    call = getattr(api, method)
    response = call(f"api/v1/members/{alice}/", body) if body else call(f"api/v1/members/{alice}/")
    # then 409 last_owner, she is still an active owner, and no event is written
    assert response.status_code == 409
    assert error_code(response) == "last_owner"
    members = {m["username"]: m for m in api.get("api/v1/members/").json()["results"]}
    assert members["alice"]["role"] == "owner"
    assert members["alice"]["is_active"]
    after = len(events(alpha, "member.role_change") + events(alpha, "member.deactivate"))
    assert after == before


def test_an_owner_can_step_down_once_another_owner_exists(alpha, api_as):
    # given mia promoted to owner
    api = api_as(alpha, "alice")
    promoted = api.patch(f"api/v1/members/{member_id(alpha, 'mia')}/", {"role": "owner"})
    assert promoted.status_code == 200
    # when alice demotes herself / then it is allowed
    response = api.patch(f"api/v1/members/{member_id(alpha, 'alice')}/", {"role": "maintainer"})
    assert response.status_code == 200


def test_inactive_owner_does_not_count_as_the_other_owner(alpha, api_as):
    # given mia promoted to owner and then deactivated
    api = api_as(alpha, "alice")
    mia = member_id(alpha, "mia")
    api.patch(f"api/v1/members/{mia}/", {"role": "owner"})
    api.delete(f"api/v1/members/{mia}/")
    # when alice steps down / then she is still the last active owner
    response = api.patch(f"api/v1/members/{member_id(alpha, 'alice')}/", {"role": "viewer"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "api/v1/members/", {"username": "nina", "role": "wizard"}),
        ("patch", "api/v1/members/{victor}/", {"role": "wizard"}),
        ("patch", "api/v1/members/{victor}/", {}),
        ("post", "api/v1/members/", {"username": "has space", "role": "viewer"}),
        ("post", "api/v1/members/", {"username": "", "role": "viewer"}),
        ("post", "api/v1/members/", {"username": "x" * 151, "role": "viewer"}),
        ("post", "api/v1/members/", {"username": "nina", "role": "viewer", "email": "nope"}),
        ("post", "api/v1/members/", ["not", "an", "object"]),
    ],
)
def test_bad_member_requests_are_400(alpha, api_as, method, path, body):
    # given alice / when she sends an unknown role or a malformed member
    victor = member_id(alpha, "victor")
    before = len(events(alpha, "member.create") + events(alpha, "member.role_change"))
    response = getattr(api_as(alpha, "alice"), method)(path.format(victor=victor), body)
    # then 400 in the error shape, and nothing changed
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    after = len(events(alpha, "member.create") + events(alpha, "member.role_change"))
    assert after == before


@pytest.mark.parametrize("username", ["mia", "MIA", "Mia"])
def test_duplicate_username_is_409(alpha, api_as, username):
    # given mia exists / when alice adds a member of the same name, in any case
    response = api_as(alpha, "alice").post(
        "api/v1/members/", {"username": username, "role": "viewer"}
    )
    # then 409 username_taken
    assert response.status_code == 409
    assert error_code(response) == "username_taken"


ENDPOINTS = [
    ("get", "api/v1/members/", None),
    ("get", "api/v1/members/{alice}/", None),
    ("post", "api/v1/members/", {"username": "nina", "role": "owner"}),
    ("patch", "api/v1/members/{alice}/", {"role": "viewer"}),
    ("patch", "api/v1/members/{self}/", {"role": "owner"}),
    ("delete", "api/v1/members/{alice}/", None),
    ("post", "api/v1/members/{alice}/reset-password/", None),
]


@pytest.mark.parametrize("persona", ["bob", "victor"])
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_members_without_the_role_get_403(alpha, api_as, persona, method, path, body):
    # given bob (no role) or victor (viewer), each with an admin-scoped token
    api = api_as(alpha, persona, scope="admin")
    target = path.format(alice=member_id(alpha, "alice"), self=member_id(alpha, persona))
    # when they call a members endpoint
    call = getattr(api, method)
    response = call(target, body) if body is not None else call(target)
    # then 403 permission_denied, and nothing is written
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"
    with schema_context(alpha.schema_name):
        assert (
            not AuditEvent.objects.filter(action__startswith="member.")
            .exclude(actor_id=None)
            .exists()
        )


def test_auditor_reads_members_but_cannot_change_them(alpha, api_as):
    # given audrey, the auditor
    api = api_as(alpha, "audrey")
    # when she lists and then tries to add / then reading works, writing is refused
    assert api.get("api/v1/members/").status_code == 200
    response = api.post("api/v1/members/", {"username": "nina", "role": "viewer"})
    assert response.status_code == 403


def test_service_account_has_no_password_but_its_token_works(alpha, api_as):
    # given alice adds a service account for CI
    response = api_as(alpha, "alice").post(
        "api/v1/members/", {"username": "ci-bot", "role": "maintainer", "service_account": True}
    )
    assert response.status_code == 201
    assert response.json()["one_time_password"] is None
    assert response.json()["is_service_account"] is True
    # when a token is issued for it (as `token_issue --tenant alpha --user ci-bot` does)
    with schema_context(alpha.schema_name):
        bot = user_in(alpha, "ci-bot")
        assert not bot.has_usable_password()
        token = token_issue(acting_user=None, user=bot, name="ci", scope="write").plaintext
    # then the token authenticates
    listed = Client().get("/t/alpha/api/v1/tokens/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert listed.status_code == 200
    assert listed.json()["count"] == 1


def test_service_account_cannot_sign_in_to_the_console(alpha, api_as):
    # given a service account that somehow holds a usable password
    api_as(alpha, "alice").post(
        "api/v1/members/", {"username": "ci-bot", "role": "maintainer", "service_account": True}
    )
    with schema_context(alpha.schema_name):
        bot = user_in(alpha, "ci-bot")
        bot.set_password("a-perfectly-good-password")
        bot.save()
    # when it signs in with that password
    response = Client().post(
        "/t/alpha/login/", {"username": "ci-bot", "password": "a-perfectly-good-password"}
    )
    # then it is refused: the form is shown again and no session starts
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_service_account_password_cannot_be_reset(alpha, api_as):
    # given a service account
    api = api_as(alpha, "alice")
    created = api.post(
        "api/v1/members/", {"username": "ci-bot", "role": "maintainer", "service_account": True}
    ).json()
    # when alice resets its password / then 409: it signs in with tokens only
    response = api.post(f"api/v1/members/{created['id']}/reset-password/")
    assert response.status_code == 409
    assert error_code(response) == "service_account_password"
    with schema_context(alpha.schema_name):
        assert not user_in(alpha, "ci-bot").has_usable_password()


@pytest.mark.parametrize("member", ["abc", "99999999999999999999", "0"])
def test_unknown_member_ids_are_404(alpha, api_as, member):
    api = api_as(alpha, "alice")
    assert api.get(f"api/v1/members/{member}/").status_code == 404
    assert api.patch(f"api/v1/members/{member}/", {"role": "viewer"}).status_code == 404
    assert api.delete(f"api/v1/members/{member}/").status_code == 404


def test_format_suffix_routes_work_for_member_writes(alpha, api_as):
    # given alice / when she uses the .json twins / then they work like the plain routes
    api = api_as(alpha, "alice")
    created = api.post("api/v1/members.json", {"username": "nina", "role": "viewer"})
    assert created.status_code == 201
    nina = created.json()["id"]
    assert api.patch(f"api/v1/members/{nina}.json", {"role": "auditor"}).status_code == 200
    assert api.post(f"api/v1/members/{nina}/reset-password.json").status_code == 200
    assert api.delete(f"api/v1/members/{nina}.json").status_code == 200
