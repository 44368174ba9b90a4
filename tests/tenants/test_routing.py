"""Path routing: /t/<slug>/ selects the tenant; unknown slugs are 404, never `public`."""

import pytest


def test_known_tenant_api_root_lists_resources(alpha, api_as):
    # given alice's token in alpha / when she reads the API root
    response = api_as(alpha, "alice").get("api/v1/")
    # then it lists the tenant's resources
    assert response.status_code == 200
    assert "members" in response.json()
    assert response.json()["members"].endswith("/t/alpha/api/v1/members/")


@pytest.mark.parametrize("path", ["/t/nope/api/v1/", "/t/nope/", "/t/public/api/v1/",
                                  "/t/mlgov-template/api/v1/"])
def test_unknown_slug_is_404_without_public_fallback(db, client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_healthz_reports_database_and_broker(db, client):
    response = client.get("/healthz")
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert response.status_code == (200 if body["checks"]["broker"]["ok"] else 503)
