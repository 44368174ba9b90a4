"""Path routing: /t/<slug>/ selects the tenant; unknown slugs are 404, never `public`."""

import pytest


def test_known_tenant_api_root_lists_resources(alpha, api_as):
    # given alice's token in alpha / when she reads the API root
    response = api_as(alpha, "alice").get("api/v1/")
    # then it lists the tenant's resources
    assert response.status_code == 200
    assert "members" in response.json()
    assert response.json()["members"].endswith("/t/alpha/api/v1/members/")


@pytest.mark.parametrize(
    "path", ["/t/nope/api/v1/", "/t/nope/", "/t/public/api/v1/", "/t/mlgov-template/api/v1/"]
)
def test_unknown_slug_is_404_without_public_fallback(db, client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_healthz_reports_database_and_broker(db, client):
    response = client.get("/healthz")
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert response.status_code == (200 if body["checks"]["broker"]["ok"] else 503)


@pytest.mark.parametrize(
    "path",
    [
        "/t/a%00b/api/v1/",
        "/t/ALPHA/api/v1/",
        "/t/al_pha/",
        "/t/" + "a" * 500 + "/",
        "/t//api/v1/",
        "/t/-alpha/",
        "/t/%E2%98%83/",
    ],
)
def test_malformed_slug_is_404_never_500(db, client, path):
    # given a path segment that cannot be a slug / when requested / then a JSON 404
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_tenant_path_without_trailing_slash_reaches_the_console(alpha, client):
    # given /t/alpha without its slash / then it is the tenant's root (sign in first)
    response = client.get("/t/alpha")
    assert response.status_code in (301, 302)


@pytest.mark.parametrize(
    "path",
    [
        "/t/beta/",
        "/t/beta/login/",
        "/t/beta/api/v1/",
        "/t/beta/api/v1/members/",
        "/t/beta/api/schema/",
        "/t/beta/nope/",
    ],
)
def test_suspended_tenant_answers_403_everywhere(beta, api_as, path):
    # given beta suspended, and carol with a valid token
    from tenants.services import tenant_suspend

    api = api_as(beta, "carol")
    tenant_suspend(acting_user=None, tenant=beta, reason="unpaid invoice")
    # when anything under /t/beta/ is requested, with or without credentials
    for response in (
        api.client.get(path, HTTP_AUTHORIZATION=api.authorization),
        api.client.post(path, {}),
        api.client.get(path, HTTP_ACCEPT="text/html"),
    ):
        # then 403 tenant_suspended, in the error shape
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "tenant_suspended"
        assert set(error) == {"code", "message", "details"}


def test_suspending_one_tenant_leaves_the_others_alone(alpha, beta, api_as):
    from tenants.services import tenant_suspend

    tenant_suspend(acting_user=None, tenant=beta, reason="unpaid invoice")
    assert api_as(alpha, "alice").get("api/v1/members/").status_code == 200


def test_unknown_api_path_under_a_tenant_is_a_json_404(alpha, api_as):
    response = api_as(alpha, "alice").get("api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_public_cookies_stay_under_admin(db, client):
    # given the operators' admin sign-in page / when it sets its CSRF cookie
    response = client.get("/admin/login/")
    # then the cookie cannot shadow a tenant's cookies of the same name
    assert response.cookies["csrftoken"]["path"] == "/admin/"
