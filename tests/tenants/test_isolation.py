"""Cross-tenant: a credential of tenant beta used under /t/alpha/ gets a 401/403/404 and
never data; platform and tenant credentials never cross either."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_tenants.utils import schema_context

from mlgov.identity.services import token_issue
from tests.conftest import issue_token

ALPHA_API = [
    "api/v1/",
    "api/v1/members/",
    "api/v1/members/1/",
    "api/v1/tokens/",
    "api/v1/tokens/1/",
    "api/schema/",
]


def assert_refused_without_data(response):
    assert response.status_code in (401, 403, 404), response.status_code
    body = response.json()
    assert set(body) == {"error"}, body


@pytest.mark.parametrize("path", ALPHA_API)
def test_carols_token_under_alpha_is_refused(alpha, beta, api_as, path):
    # given carol's admin token, issued in beta / when used under /t/alpha/
    api = api_as(alpha, "carol", token_tenant=beta)
    response = api.get(path)
    # then refused as an unknown token, with no data
    assert_refused_without_data(response)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "api/v1/tokens/", {"name": "x", "scope": "admin"}),
        ("post", "api/v1/members/", {"username": "mole", "role": "owner"}),
        ("patch", "api/v1/members/1/", {"role": "viewer"}),
        ("delete", "api/v1/members/1/", None),
        ("post", "api/v1/tokens/1/revoke/", None),
    ],
)
def test_carols_token_cannot_write_under_alpha(alpha, beta, api_as, method, path, body):
    # given carol's admin token from beta / when she writes under /t/alpha/
    call = getattr(api_as(alpha, "carol", token_tenant=beta), method)
    response = call(path, body) if body is not None else call(path)
    # then refused, and alpha is unchanged
    assert_refused_without_data(response)
    with schema_context(alpha.schema_name):
        assert not User.objects.filter(username="mole").exists()
        assert User.objects.get(username="alice").groups.filter(name="owner").exists()


def test_carols_token_as_basic_credentials_under_alpha_is_refused(alpha, beta):
    # given carol's token sent the mlflow way / when used under /t/alpha/ / then 401
    token = issue_token(beta, "carol")
    header = "Basic " + base64.b64encode(f"carol:{token}".encode()).decode()
    response = Client().get("/t/alpha/api/v1/members/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_same_user_name_in_two_tenants_is_two_people(alpha, beta, api_as):
    # given a "mia" in beta too, with her own token
    with schema_context(beta.schema_name):
        beta_mia = User.objects.create_user(username="mia")
        token = token_issue(acting_user=None, user=beta_mia, name="x", scope="admin").plaintext
    # when beta's mia uses her token under /t/alpha/ / then alpha does not know it
    response = Client().get("/t/alpha/api/v1/tokens/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_carols_console_session_is_unknown_under_alpha(alpha, beta, console_login):
    # given carol signed in to beta's console
    client = console_login(beta, "carol")
    session_id = client.cookies["sessionid"].value
    # when her session id is sent to alpha (a test client ignores cookie paths; a browser
    # would not even send it) / then alpha treats her as anonymous
    for path, expected in [
        ("/t/alpha/", 302),
        ("/t/alpha/api/v1/members/", 401),
        ("/t/alpha/api/v1/tokens/", 401),
        ("/t/alpha/password/", 302),
    ]:
        fresh = Client()
        fresh.cookies["sessionid"] = session_id
        response = fresh.get(path)
        assert response.status_code == expected, path
        if expected == 302:
            assert response["Location"].startswith("/t/alpha/login/")
    # and the session still works in beta
    again = Client()
    again.cookies["sessionid"] = session_id
    assert again.get("/t/beta/").status_code == 200


def test_session_cookie_is_scoped_to_the_tenants_path(alpha, beta):
    # given carol's and alice's passwords
    from tests.conftest import PASSWORD

    for tenant, username in [(alpha, "alice"), (beta, "carol")]:
        with schema_context(tenant.schema_name):
            user = User.objects.get(username=username)
            user.set_password(PASSWORD)
            user.save()
        # when each signs in to their tenant
        response = Client().post(
            f"/t/{tenant.slug}/login/", {"username": username, "password": PASSWORD}
        )
        # then the session cookie's path is that tenant's prefix
        assert response.cookies["sessionid"]["path"] == f"/t/{tenant.slug}/"


def test_platform_operators_token_is_unknown_under_a_tenant(alpha, operator, platform_api):
    # given olivia's platform token / when used under /t/alpha/ / then 401
    api = platform_api(operator)
    response = Client().get("/t/alpha/api/v1/members/", HTTP_AUTHORIZATION=api.authorization)
    assert response.status_code == 401


def test_tenant_token_is_unknown_on_the_platform_api(alpha, api_as):
    # given alice's admin token / when used against the operators' API / then 401
    api = api_as(alpha, "alice")
    for path in ["/api/v1/tenants/", "/api/v1/tenants/alpha/", "/api/v1/plans/"]:
        response = Client().get(path, HTTP_AUTHORIZATION=api.authorization)
        assert response.status_code == 401, path
