"""The operators' platform API at /api/v1/tenants/: only platform operators; slugs validated;
a new tenant answers at once; suspension closes a tenant and resumption reopens it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from tenants.models import Tenant
from tests.conftest import issue_token


def error_code(response) -> str:
    return response.json()["error"]["code"]


def new_tenant(slug: str = "gamma", owner: str = "gina") -> dict:
    return {"slug": slug, "name": "Gamma Labs", "owner_username": owner, "owner_email": "g@g.test"}


def public_events(action: str) -> list[AuditEvent]:
    with schema_context("public"):
        return list(AuditEvent.objects.filter(action=action))


# --- who may call it ---------------------------------------------------------------------


def test_anonymous_caller_is_401(db, platform_api):
    response = platform_api(None).get("api/v1/tenants/")
    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


def test_tenant_users_token_is_refused(alpha, api_as):
    # given alice's admin token from alpha / when she calls the platform API
    authorization = api_as(alpha, "alice").authorization
    for method, path in [("get", "/api/v1/tenants/"), ("post", "/api/v1/tenants/alpha/suspend/")]:
        response = getattr(Client(), method)(path, HTTP_AUTHORIZATION=authorization)
        # then 401: her token does not exist in `public`
        assert response.status_code == 401
    assert not Tenant.objects.get(slug="alpha").is_suspended


def test_public_user_who_is_not_staff_is_403(db, platform_api):
    # given a user of the public schema without the staff flag, with a token
    with schema_context("public"):
        paul = User.objects.create_user(username="paul")
    # when he lists tenants / then 403: only operators
    response = platform_api(paul).get("api/v1/tenants/")
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"


def test_operators_read_token_cannot_create_or_suspend(alpha, operator, platform_api):
    # given olivia with a read-scoped token
    api = platform_api(operator, scope="read")
    # when she reads, creates and suspends / then reading works, writing is refused
    assert api.get("api/v1/tenants/").status_code == 200
    for path, body in [("api/v1/tenants/", new_tenant()), ("api/v1/tenants/alpha/suspend/", {})]:
        response = api.post(path, body)
        assert response.status_code == 403
        assert error_code(response) == "insufficient_scope"


def test_a_token_issued_with_the_platform_command_works(db, operator):
    # given olivia's token issued the way operators get one
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("token_issue", "--platform", "--user", "olivia", "--scope", "read", stdout=out)
    token = out.getvalue().strip()
    # when she lists tenants / then she is served
    response = Client().get("/api/v1/tenants/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200


# --- list and retrieve -------------------------------------------------------------------


def test_operator_lists_and_retrieves_tenants(alpha, beta, operator, platform_api):
    api = platform_api(operator, scope="read")
    listed = api.get("api/v1/tenants/").json()
    assert [t["slug"] for t in listed["results"]] == ["alpha", "beta"]
    alpha_out = api.get("api/v1/tenants/alpha/").json()
    assert alpha_out["url"] == "/t/alpha/"
    assert alpha_out["status"] == "active"
    assert api.get("api/v1/tenants/?status=suspended").json()["count"] == 0


@pytest.mark.parametrize("slug", ["nope", "public", "ALPHA", "a%00b"])
def test_unknown_tenant_is_404(db, operator, platform_api, slug):
    response = platform_api(operator).get(f"api/v1/tenants/{slug}/")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_operator_lists_plans(db, alpha, operator, platform_api):
    response = platform_api(operator, scope="read").get("api/v1/plans/")
    assert response.status_code == 200
    assert "standard" in {plan["name"] for plan in response.json()["results"]}


# --- create ------------------------------------------------------------------------------


def test_create_returns_the_owners_one_time_password_and_the_tenant_answers(
    db, operator, platform_api
):
    # given olivia / when she creates gamma for gina
    response = platform_api(operator).post("api/v1/tenants/", new_tenant())
    # then it exists, with gina's one-time password
    assert response.status_code == 201
    body = response.json()
    assert (body["slug"], body["url"], body["owner_username"]) == ("gamma", "/t/gamma/", "gina")
    password = body["owner_one_time_password"]
    assert len(password) >= 12
    # and /t/gamma/ answers straight away: gina signs in and must choose a new password
    signed_in = Client().post("/t/gamma/login/", {"username": "gina", "password": password})
    assert signed_in.status_code == 302
    assert signed_in["Location"] == "/t/gamma/password/"
    gamma = Tenant.objects.get(slug="gamma")
    token = issue_token(gamma, "gina", "read")
    members = Client().get("/t/gamma/api/v1/members/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert [m["username"] for m in members.json()["results"]] == ["gina"]
    # and the creation is in the public audit trail with olivia as its actor
    (event,) = public_events("tenant.create")[-1:]
    assert (event.actor_username, event.object_id) == ("olivia", "gamma")
    # and the password is nowhere in it
    assert password not in str(event.after)


@pytest.mark.parametrize(
    "slug",
    [
        "Acme",
        "ACME",
        "my_team",
        "admin",
        "public",
        "api",
        "template",
        "a" * 41,
        "1team",
        "-team",
        "team-",
        "te--am",
        "team.io",
        " gamma",
        "gamma ",
        "",
        "gämma",
    ],
)
def test_bad_slugs_are_400_invalid_slug(db, operator, platform_api, slug):
    # given olivia / when she creates a tenant with a bad slug
    response = platform_api(operator).post("api/v1/tenants/", new_tenant(slug))
    # then 400 invalid_slug, and nothing is created
    assert response.status_code == 400, response.json()
    assert error_code(response) == "invalid_slug"
    assert not Tenant.objects.exclude(slug__in=["alpha", "beta"]).exists()


def test_longest_allowed_slug_is_accepted(db, operator, platform_api):
    slug = "a" * 40
    response = platform_api(operator).post("api/v1/tenants/", new_tenant(slug))
    assert response.status_code == 201
    assert Client().get(f"/t/{slug}/login/").status_code == 200


def test_duplicate_slug_is_409(alpha, operator, platform_api):
    response = platform_api(operator).post("api/v1/tenants/", new_tenant("alpha"))
    assert response.status_code == 409
    assert error_code(response) == "slug_taken"


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "gamma"},
        {**new_tenant(), "owner_email": "not-an-email"},
        {**new_tenant(), "owner_username": "has space"},
        {**new_tenant(), "plan": "no-such-plan"},
        {**new_tenant(), "name": "x" * 201},
    ],
)
def test_incomplete_create_is_400(db, operator, platform_api, body):
    response = platform_api(operator).post("api/v1/tenants/", body)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert not Tenant.objects.filter(slug="gamma").exists()


# --- suspend and resume ------------------------------------------------------------------


def test_suspend_closes_every_path_and_resume_reopens(beta, operator, platform_api, api_as):
    # given carol with a working token in beta
    carol = api_as(beta, "carol")
    assert carol.get("api/v1/members/").status_code == 200
    api = platform_api(operator)
    # when olivia suspends beta
    response = api.post("api/v1/tenants/beta/suspend/", {"reason": "unpaid invoice"})
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    assert response.json()["suspended_reason"] == "unpaid invoice"
    # then every request under /t/beta/ is 403 tenant_suspended
    for path in ["", "login/", "api/v1/", "api/v1/members/", "api/v1/tokens/"]:
        refused = carol.get(path)
        assert refused.status_code == 403, path
        assert error_code(refused) == "tenant_suspended"
    # when she resumes it / then carol is served again
    resumed = api.post("api/v1/tenants/beta/resume/")
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "active"
    assert carol.get("api/v1/members/").status_code == 200
    # and both operator actions are in the public audit trail
    suspend, resume = public_events("tenant.suspend")[-1], public_events("tenant.resume")[-1]
    assert suspend.actor_username == resume.actor_username == "olivia"
    assert (suspend.before["status"], suspend.after["status"]) == ("active", "suspended")


def test_suspend_needs_a_reason(beta, operator, platform_api):
    response = platform_api(operator).post("api/v1/tenants/beta/suspend/", {})
    assert response.status_code == 400
    assert not Tenant.objects.get(slug="beta").is_suspended


def test_format_suffix_routes_work_for_operator_writes(beta, operator, platform_api):
    api = platform_api(operator)
    assert api.post("api/v1/tenants/beta/suspend.json", {"reason": "x"}).status_code == 200
    assert api.post("api/v1/tenants/beta/resume.json").status_code == 200
    created = api.post("api/v1/tenants.json", new_tenant("delta"))
    assert created.status_code == 201
