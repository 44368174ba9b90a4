"""DELETE /api/v1/tenants/<slug>/?confirm=<slug>&reason=...: operators only, with an
admin-scoped token, the slug repeated and a reason; 204, then the tenant is gone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context, schema_exists

from tenants.models import Tenant
from tenants.services import tenant_create


@pytest.fixture()
def doomed(db, settings, tmp_path):
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return tenant_create(
        acting_user=None, slug="doomed", name="Doomed", owner_username="dora",
        owner_email="d@d.test",
    ).tenant


def error_code(response) -> str:
    return response.json()["error"]["code"]


def intact(slug: str = "doomed") -> bool:
    tenant = Tenant.objects.filter(slug=slug).first()
    return tenant is not None and schema_exists(tenant.schema_name)


def test_operator_deletes_with_confirmation_and_reason(
    doomed, operator, platform_api, django_capture_on_commit_callbacks
):
    api = platform_api(operator)
    # when olivia deletes doomed, confirming its slug
    with connection.cursor() as cursor:  # the test's rows are uncommitted; see the service test
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete("api/v1/tenants/doomed/?confirm=doomed&reason=contract+ended")
    # then 204, the tenant is gone from the API and from routing, its row a tombstone
    assert response.status_code == 204
    assert api.get("api/v1/tenants/doomed/").status_code == 404
    assert "doomed" not in [t["slug"] for t in api.get("api/v1/tenants/").json()["results"]]
    assert Client().get("/t/doomed/api/v1/").status_code == 404
    assert Tenant.all_objects.get(slug="doomed").status == "deleted"
    assert not schema_exists(doomed.schema_name)
    # and deleting again, or creating the slug again, is refused
    assert api.delete("api/v1/tenants/doomed/?confirm=doomed&reason=x").status_code == 404
    again = api.post(
        "api/v1/tenants/",
        {"slug": "doomed", "name": "New", "owner_username": "n", "owner_email": "n@n.test"},
    )
    assert again.status_code == 409
    assert error_code(again) == "slug_taken"


def test_confirmation_and_reason_may_come_in_a_json_body(
    doomed, operator, platform_api, django_capture_on_commit_callbacks
):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with django_capture_on_commit_callbacks(execute=True):
        response = platform_api(operator).client.delete(
            "/api/v1/tenants/doomed/",
            data={"confirm": "doomed", "reason": "contract ended"},
            content_type="application/json",
            HTTP_AUTHORIZATION=platform_api(operator).authorization,
        )
    assert response.status_code == 204
    assert not intact()


@pytest.mark.parametrize(
    "query", ["", "?reason=x", "?confirm=&reason=x", "?confirm=DOOMED&reason=x",
              "?confirm=alpha&reason=x", "?confirm=doomed%20&reason=x"],
)
def test_without_the_right_confirmation_nothing_happens(doomed, operator, platform_api, query):
    response = platform_api(operator).delete(f"api/v1/tenants/doomed/{query}")
    assert response.status_code == 400
    assert error_code(response) == "confirmation_required"
    assert intact()
    assert not Tenant.objects.get(slug="doomed").is_suspended


def test_a_reason_is_required(doomed, operator, platform_api):
    response = platform_api(operator).delete("api/v1/tenants/doomed/?confirm=doomed")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert intact()


def test_anonymous_is_401(doomed, platform_api):
    response = platform_api(None).delete("api/v1/tenants/doomed/?confirm=doomed&reason=x")
    assert response.status_code == 401
    assert intact()


def test_a_tenant_users_token_is_401_even_for_its_own_tenant(doomed, api_as):
    # given dora, owner of doomed, with an admin token of her tenant
    authorization = api_as(doomed, "dora").authorization
    # when she calls the platform API to delete her own tenant / then 401: unknown in public
    response = Client().delete(
        "/api/v1/tenants/doomed/?confirm=doomed&reason=x", HTTP_AUTHORIZATION=authorization
    )
    assert response.status_code == 401
    assert intact()


def test_public_user_who_is_not_staff_is_403(doomed, platform_api):
    with schema_context("public"):
        paul = User.objects.create_user(username="paul")
    response = platform_api(paul).delete("api/v1/tenants/doomed/?confirm=doomed&reason=x")
    assert response.status_code == 403
    assert intact()


@pytest.mark.parametrize("scope", ["read", "write"])
def test_operator_token_below_admin_scope_is_403(doomed, operator, platform_api, scope):
    response = platform_api(operator, scope=scope).delete(
        "api/v1/tenants/doomed/?confirm=doomed&reason=x"
    )
    assert response.status_code == 403
    assert error_code(response) == "insufficient_scope"
    assert intact()


@pytest.mark.parametrize("slug", ["nope", "public"])
def test_unknown_tenant_is_404(db, operator, platform_api, slug):
    response = platform_api(operator).delete(f"api/v1/tenants/{slug}/?confirm={slug}&reason=x")
    assert response.status_code == 404
