"""`/models/` and `/models/<id>/aliases/`: CRUD, permissions, cross-tenant, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from registry.models import ModelAlias, RegisteredModel, RegisteredModelTag, StageTransition
from tests.conftest import user_in
from tests.registry.model_world import make_model, make_version


@pytest.fixture()
def churn(alpha):
    """alice's model with two versions."""
    with schema_context(alpha.schema_name):
        model = make_model(user_in(alpha, "alice"), "churn", tags={"team": "growth"})
        make_version(model)
        make_version(model)
        return model


# --- registered models ------------------------------------------------------------------


def test_create_list_retrieve(alpha, api_as):
    mia = api_as(alpha, "mia")
    # when mia creates a model
    created = mia.post(
        "api/v1/models/", {"name": "fraud", "description": "d", "tags": {"team": "risk"}}
    )
    # then it comes back with her as creator, and is listed and retrievable
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["created_by"], body["tags"]) == ("fraud", "mia", {"team": "risk"})
    assert body["version_count"] == 0
    assert body["latest_version"] is None
    listed = api_as(alpha, "victor").get("api/v1/models/")
    assert [row["name"] for row in listed.json()["results"]] == ["fraud"]
    assert mia.get(f"api/v1/models/{body['id']}/").json()["name"] == "fraud"


def test_duplicate_name_is_409_name_taken(alpha, api_as, churn):
    response = api_as(alpha, "alice").post("api/v1/models/", {"name": "churn"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "name_taken"


def test_create_needs_the_add_permission(alpha, api_as):
    for username in ("rita", "victor", "audrey"):
        response = api_as(alpha, username).post("api/v1/models/", {"name": f"m-{username}"})
        assert response.status_code == 403, username
    assert api_as(alpha, "bob").post("api/v1/models/", {"name": "x"}).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "a\x00b"},
        {"name": "x" * 251},
        {"name": "ok", "owner": "bob"},
        {"name": "ok", "tags": "x"},
    ],
)
def test_create_with_bad_input_is_400(alpha, api_as, body):
    response = api_as(alpha, "alice").post("api/v1/models/", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_patch_renames_describes_and_retags(alpha, api_as, churn):
    alice = api_as(alpha, "alice")
    response = alice.patch(
        f"api/v1/models/{churn.pk}/",
        {"name": "churn-2", "description": "new", "tags": {"team": None, "tier": "1"}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["description"], body["tags"]) == ("churn-2", "new", {"tier": "1"})
    assert body["version_count"] == 2
    assert body["latest_version"] == 2


@pytest.mark.parametrize("field", ["created_by", "id", "created_at", "owner", "tenant"])
def test_patch_of_server_fields_is_400_naming_the_field(alpha, api_as, churn, field):
    response = api_as(alpha, "alice").patch(f"api/v1/models/{churn.pk}/", {field: "x"})
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]


def test_maintainer_may_see_but_not_change_or_delete_others_models(alpha, api_as, churn):
    mia = api_as(alpha, "mia")
    assert mia.get(f"api/v1/models/{churn.pk}/").status_code == 200
    assert mia.patch(f"api/v1/models/{churn.pk}/", {"description": "x"}).status_code == 403
    assert mia.delete(f"api/v1/models/{churn.pk}/").status_code == 403
    # a grant of change lets her edit it
    with schema_context(alpha.schema_name):
        from guardian.shortcuts import assign_perm

        assign_perm("change_registeredmodel", user_in(alpha, "mia"), churn)
    assert mia.patch(f"api/v1/models/{churn.pk}/", {"description": "x"}).status_code == 200


def test_put_is_not_offered(alpha, api_as, churn):
    response = api_as(alpha, "alice").put(f"api/v1/models/{churn.pk}/", {"name": "x"})
    assert response.status_code == 405


def test_delete_refused_with_versions_then_allowed_when_empty(alpha, api_as, churn):
    alice = api_as(alpha, "alice")
    refused = alice.delete(f"api/v1/models/{churn.pk}/")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "model_has_versions"
    empty = alice.post("api/v1/models/", {"name": "empty"}).json()
    assert alice.delete(f"api/v1/models/{empty['id']}/").status_code == 204
    assert alice.get(f"api/v1/models/{empty['id']}/").status_code == 404


def test_anonymous_bob_read_token_and_other_tenants(alpha, beta, api_as, churn):
    path = f"api/v1/models/{churn.pk}/"
    assert api_as(alpha, None).get(path).status_code == 401
    # bob (no role) sees nothing: an empty list, and the model is "not found"
    assert api_as(alpha, "bob").get(path).status_code == 404
    assert api_as(alpha, "bob").get("api/v1/models/").json()["results"] == []
    assert api_as(alpha, "bob").patch(path, {"description": "x"}).status_code == 404
    read = api_as(alpha, "alice", scope="read")
    assert read.get(path).status_code == 200
    for response in (
        read.post("api/v1/models/", {"name": "n"}),
        read.patch(path, {"description": "x"}),
        read.delete(path),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "insufficient_scope"
    # carol's token under /t/alpha/, and alice's token under /t/beta/: unknown credentials
    assert api_as(alpha, "carol", token_tenant=beta).get(path).status_code == 401
    assert api_as(alpha, "alice", path_tenant=beta).get(path).status_code == 401
    # carol in her own tenant never reaches alpha's model by its id
    assert api_as(beta, "carol").get(path).status_code == 404


def test_a_grant_lets_a_member_without_role_see_one_model(alpha, api_as, churn):
    # given alice grants bob view on churn only
    with schema_context(alpha.schema_name):
        other = make_model(user_in(alpha, "alice"), "secret")
    granted = api_as(alpha, "alice").post(
        f"api/v1/models/{churn.pk}/permissions/grant/", {"username": "bob", "actions": ["view"]}
    )
    assert granted.status_code == 200
    bob = api_as(alpha, "bob")
    # then he lists and reads churn (and its versions), not the other model
    assert [row["name"] for row in bob.get("api/v1/models/").json()["results"]] == ["churn"]
    assert bob.get(f"api/v1/models/{churn.pk}/versions/").json()["count"] == 2
    assert bob.get(f"api/v1/models/{other.pk}/").status_code == 404
    # and may not change it
    assert bob.patch(f"api/v1/models/{churn.pk}/", {"description": "x"}).status_code == 403


def test_object_permission_endpoints_need_change_and_admin_scope(alpha, api_as, churn):
    path = f"api/v1/models/{churn.pk}/permissions/"
    assert api_as(alpha, "mia").get(path).status_code == 403
    granted = api_as(alpha, "alice").post(
        f"{path}grant/", {"username": "mia", "actions": ["change"]}
    )
    assert granted.status_code == 200
    assert granted.json()["holders"]["mia"] == ["change"]
    write = api_as(alpha, "alice", scope="write")
    assert (
        write.post(f"{path}revoke/", {"username": "mia", "actions": ["change"]}).status_code == 403
    )


def _count_queries(api, path: str) -> int:
    api.get(path)  # warm-up: per-process caches (content types, permissions) fill once
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


@pytest.mark.parametrize("username", ["alice", "mia"])
def test_model_list_query_count_does_not_grow(alpha, api_as, username):
    alice = user_in(alpha, "alice")

    def fill(first: int, count: int) -> None:
        with schema_context(alpha.schema_name):
            models = RegisteredModel.objects.bulk_create(
                RegisteredModel(name=f"m{index:05d}", created_by=alice)
                for index in range(first, first + count)
            )
            RegisteredModelTag.objects.bulk_create(
                RegisteredModelTag(registered_model=model, key="k", value="v") for model in models
            )
            for model in models[:3]:
                ModelAlias.objects.create(
                    registered_model=model, alias="champion", model_version=make_version(model)
                )

    api = api_as(alpha, username)
    fill(0, 10)
    small = _count_queries(api, "api/v1/models/?page_size=100")
    fill(10, 990)
    assert _count_queries(api, "api/v1/models/?page_size=100") == small


# --- aliases -----------------------------------------------------------------------------


def test_alias_put_get_list_delete(alpha, api_as, churn):
    alice = api_as(alpha, "alice")
    base = f"api/v1/models/{churn.pk}/aliases/"
    put = alice.put(f"{base}champion/", {"version": 1, "reason": "best AUC"})
    assert put.status_code == 200, put.content
    assert put.json()["version"] == 1
    moved = alice.put(f"{base}champion/", {"version": 2})
    assert moved.json()["version"] == 2
    assert alice.get(f"{base}champion/").json()["version"] == 2
    assert alice.get(f"{base}latest/").json()["version"] == 2
    assert [row["alias"] for row in alice.get(base).json()["results"]] == ["champion"]
    assert alice.delete(f"{base}champion/?reason=retired").status_code == 204
    assert alice.get(f"{base}champion/").status_code == 404
    with schema_context(alpha.schema_name):
        kinds = list(
            StageTransition.objects.filter(model_version__registered_model=churn)
            .order_by("id")
            .values_list("kind", "to_value", "reason")
        )
    assert kinds == [
        ("alias_set", "champion", "best AUC"),
        ("alias_set", "champion", ""),
        ("alias_removed", "", "retired"),
    ]


@pytest.mark.parametrize(
    ("alias", "code"),
    [("latest", "alias_reserved"), ("Bad", "invalid_alias"), ("a" * 101, "invalid_alias")],
)
def test_alias_names_are_checked(alpha, api_as, churn, alias, code):
    response = api_as(alpha, "alice").put(
        f"api/v1/models/{churn.pk}/aliases/{alias}/", {"version": 1}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_alias_to_a_missing_version_or_with_extra_fields_is_400(alpha, api_as, churn):
    alice = api_as(alpha, "alice")
    path = f"api/v1/models/{churn.pk}/aliases/champion/"
    assert alice.put(path, {"version": 9}).json()["error"]["code"] == "version_not_found"
    assert alice.put(path, {"version": 1, "stage": "production"}).status_code == 400


def test_alias_permissions(alpha, beta, api_as, churn):
    path = f"api/v1/models/{churn.pk}/aliases/champion/"
    assert api_as(alpha, "mia").get(f"api/v1/models/{churn.pk}/aliases/").status_code == 200
    assert api_as(alpha, "mia").put(path, {"version": 1}).status_code == 403
    assert api_as(alpha, "rita").delete(path).status_code == 403
    assert api_as(alpha, "bob").get(path).status_code == 404
    assert api_as(alpha, None).get(path).status_code == 401
    read = api_as(alpha, "alice", scope="read").put(path, {"version": 1})
    assert read.json()["error"]["code"] == "insufficient_scope"
    assert api_as(alpha, "carol", token_tenant=beta).put(path, {"version": 1}).status_code == 401
    assert api_as(beta, "carol").get(f"api/v1/models/{churn.pk}/aliases/").status_code == 404


def test_alias_list_query_count_does_not_grow(alpha, api_as, churn):
    alice = api_as(alpha, "alice")
    path = f"api/v1/models/{churn.pk}/aliases/?page_size=100"

    def fill(first: int, count: int) -> None:
        with schema_context(alpha.schema_name):
            version = churn.versions.first()
            ModelAlias.objects.bulk_create(
                ModelAlias(registered_model=churn, alias=f"a{index:05d}", model_version=version)
                for index in range(first, first + count)
            )

    fill(0, 10)
    small = _count_queries(alice, path)
    fill(10, 990)
    assert _count_queries(alice, path) == small
