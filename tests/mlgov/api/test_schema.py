"""OpenAPI: the tenant schema describes the tenant API only, for signed-in callers; Swagger UI
loads its assets from drf-spectacular-sidecar, never from a CDN."""

from __future__ import annotations

import re

import pytest
from django.test import Client


def test_tenant_schema_has_members_and_tokens_but_no_platform_paths(alpha, api_as):
    # given alice with a read token / when she fetches the tenant schema as JSON
    response = api_as(alpha, "alice", scope="read").get("api/schema/?format=json")
    # then it lists the tenant's endpoints and none of the operators'
    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert {"/api/v1/members/", "/api/v1/members/{id}/", "/api/v1/tokens/"} <= paths
    assert {"/api/v1/tokens/{id}/revoke/", "/api/v1/members/{id}/reset-password/"} <= paths
    assert not any(p.startswith(("/api/v1/tenants", "/api/v1/plans")) for p in paths)
    assert not any("admin" in p for p in paths)


def test_tenant_schema_describes_the_token_schemes(alpha, api_as):
    schema = api_as(alpha, "alice").get("api/schema/?format=json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerToken"]["scheme"] == "bearer"
    assert schemes["basicToken"]["scheme"] == "basic"


def test_tenant_schema_default_is_yaml(alpha, api_as):
    response = api_as(alpha, "alice").get("api/schema/")
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3")


@pytest.mark.parametrize("path", ["/t/alpha/api/schema/", "/t/alpha/api/docs/"])
def test_schema_and_docs_need_a_signed_in_caller(alpha, path):
    # given no credentials / when the schema or docs are asked for
    response = Client().get(path)
    # then 401 in the JSON error shape (not YAML, not HTML)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_authenticated"


def test_console_session_reads_the_docs(alpha, console_login):
    # given mia signed in to the console / when she opens the docs / then they load
    client = console_login(alpha, "mia")
    assert client.get("/t/alpha/api/docs/").status_code == 200
    assert client.get("/t/alpha/api/schema/").status_code == 200


def test_swagger_ui_loads_its_assets_from_the_sidecar(alpha, api_as):
    # given alice / when she opens the Swagger UI
    response = api_as(alpha, "alice").get("api/docs/")
    # then the page points at the tenant's schema and at static files we serve ourselves
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert all(a.startswith("/static/drf_spectacular_sidecar/") for a in assets), assets
    assert "cdn" not in html.lower()
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html)
    assert "/t/alpha/api/schema/" in html
    # and each asset is served
    client = Client()
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_platform_schema_is_for_operators_and_lists_the_platform_api(db, operator, platform_api):
    # given no credentials / then the platform schema is refused
    assert Client().get("/api/schema/").status_code == 401
    # given olivia / then it lists tenants and plans and no tenant endpoint
    response = platform_api(operator, scope="read").get("api/schema/?format=json")
    paths = set(response.json()["paths"])
    assert {"/api/v1/tenants/", "/api/v1/tenants/{slug}/suspend/", "/api/v1/plans/"} <= paths
    assert not any(p.startswith(("/api/v1/members", "/api/v1/tokens")) for p in paths)
