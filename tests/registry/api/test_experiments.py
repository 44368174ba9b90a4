"""/t/<slug>/api/v1/experiments/: CRUD, soft delete, permissions, tenancy, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm

from mlgov.audit.models import AuditEvent
from registry.models import Experiment
from registry.services.experiments import experiment_create
from tests.conftest import user_in

BASE = "api/v1/experiments/"


@pytest.fixture()
def experiment(alpha):
    """alice's experiment."""
    with schema_context(alpha.schema_name):
        return experiment_create(acting_user=user_in(alpha, "alice"), name="churn")


def _code(response) -> str:
    return response.json()["error"]["code"]


# --- happy paths ---------------------------------------------------------------------------


def test_maintainer_creates_reads_updates_deletes_and_restores(alpha, api_as):
    mia = api_as(alpha, "mia", scope="write")
    # when mia creates an experiment
    created = mia.post(BASE, {"name": "fraud", "description": "d", "tags": {"team": "risk"}})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["created_by"] == "mia"
    assert body["lifecycle_stage"] == "active"
    url = f"{BASE}{body['id']}/"
    # then she can read, rename, retag it
    assert mia.get(url).json()["name"] == "fraud"
    patched = mia.patch(url, {"name": "fraud-v2", "tags": {"team": "ops"}})
    assert patched.status_code == 200
    assert patched.json()["tags"] == {"team": "ops"}
    # and delete it softly: gone from the list, still readable, restorable
    assert mia.delete(url).json()["lifecycle_stage"] == "deleted"
    assert [e["id"] for e in mia.get(BASE).json()["results"]] == []
    deleted = mia.get(BASE + "?lifecycle_stage=deleted").json()["results"]
    assert [e["id"] for e in deleted] == [body["id"]]
    assert mia.patch(url, {"name": "again"}).status_code == 409
    restored = mia.post(f"{url}restore/")
    assert restored.status_code == 200
    assert restored.json()["lifecycle_stage"] == "active"
    with schema_context(alpha.schema_name):
        actions = list(
            AuditEvent.objects.filter(object_type="experiment", object_id=str(body["id"]))
            .order_by("sequence").values_list("action", flat=True)
        )
    assert actions == [
        "experiment.create", "experiment.update", "experiment.delete", "experiment.restore"
    ]


def test_duplicate_name_is_409_name_taken(alpha, api_as, experiment):
    response = api_as(alpha, "alice").post(BASE, {"name": "churn"})
    assert response.status_code == 409
    assert _code(response) == "name_taken"


@pytest.mark.parametrize(
    "field", ["lifecycle_stage", "created_by", "owner", "tenant", "status", "id"]
)
def test_patch_of_a_non_editable_field_is_400_naming_it(alpha, api_as, experiment, field):
    response = api_as(alpha, "alice").patch(f"{BASE}{experiment.pk}/", {field: "x"})
    assert response.status_code == 400
    assert _code(response) == "validation_error"
    assert field in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize(
    "payload",
    [{}, {"name": ""}, {"name": "x" * 501}, {"name": "x", "tags": {"k": ["a"]}},
     {"name": "x", "tags": {"k": None}}, {"name": "x", "tags": ["a"]},
     {"name": "x", "tags": {"": "v"}}],
)
def test_bad_create_input_is_400(alpha, api_as, payload):
    response = api_as(alpha, "alice").post(BASE, payload)
    assert response.status_code == 400, response.content


def test_huge_and_malformed_ids_are_404_not_500(alpha, api_as):
    alice = api_as(alpha, "alice")
    for pk in ("9" * 30, "abc", "0"):
        assert alice.get(f"{BASE}{pk}/").status_code == 404


def test_put_is_not_offered(alpha, api_as, experiment):
    assert api_as(alpha, "alice").put(f"{BASE}{experiment.pk}/", {"name": "x"}).status_code == 405


# --- permissions ---------------------------------------------------------------------------


def test_bob_without_a_role_sees_nothing_and_cannot_create(alpha, api_as, experiment):
    bob = api_as(alpha, "bob")
    assert bob.get(BASE).json()["results"] == []
    assert bob.get(f"{BASE}{experiment.pk}/").status_code == 404
    assert bob.patch(f"{BASE}{experiment.pk}/", {"name": "x"}).status_code == 404
    assert bob.delete(f"{BASE}{experiment.pk}/").status_code == 404
    assert bob.post(f"{BASE}{experiment.pk}/restore/").status_code == 404
    response = bob.post(BASE, {"name": "mine"})
    assert response.status_code == 403
    assert _code(response) == "permission_denied"


def test_an_object_grant_lets_bob_see_that_experiment_only(alpha, api_as, experiment):
    with schema_context(alpha.schema_name):
        other = experiment_create(acting_user=user_in(alpha, "alice"), name="other")
        assign_perm("view_experiment", user_in(alpha, "bob"), experiment)
    bob = api_as(alpha, "bob")
    assert [e["name"] for e in bob.get(BASE).json()["results"]] == ["churn"]
    assert bob.get(f"{BASE}{other.pk}/").status_code == 404
    # seeing is not changing
    assert bob.patch(f"{BASE}{experiment.pk}/", {"name": "x"}).status_code == 403


@pytest.mark.parametrize("persona", ["mia", "victor", "rita", "audrey"])
def test_roles_that_see_but_do_not_own_get_403_on_writes(alpha, api_as, experiment, persona):
    caller = api_as(alpha, persona)
    assert caller.get(f"{BASE}{experiment.pk}/").status_code == 200
    assert caller.patch(f"{BASE}{experiment.pk}/", {"name": "x"}).status_code == 403
    assert caller.delete(f"{BASE}{experiment.pk}/").status_code == 403
    assert caller.post(f"{BASE}{experiment.pk}/restore/").status_code == 403
    assert caller.get(f"{BASE}{experiment.pk}/permissions/").status_code == 403


@pytest.mark.parametrize("persona", ["victor", "rita", "audrey"])
def test_roles_without_add_cannot_create(alpha, api_as, persona):
    response = api_as(alpha, persona).post(BASE, {"name": "x"})
    assert response.status_code == 403
    assert _code(response) == "permission_denied"


def test_read_scoped_token_cannot_write(alpha, api_as, experiment):
    reader = api_as(alpha, "alice", scope="read")
    assert reader.get(f"{BASE}{experiment.pk}/").status_code == 200
    for response in (
        reader.post(BASE, {"name": "x"}),
        reader.patch(f"{BASE}{experiment.pk}/", {"name": "x"}),
        reader.delete(f"{BASE}{experiment.pk}/"),
        reader.post(f"{BASE}{experiment.pk}/restore/"),
    ):
        assert response.status_code == 403
        assert _code(response) == "insufficient_scope"
    writer = api_as(alpha, "alice", scope="write")
    grant = writer.post(
        f"{BASE}{experiment.pk}/permissions/grant/", {"username": "bob", "actions": ["view"]}
    )
    assert grant.status_code == 403
    assert _code(grant) == "insufficient_scope"


def test_owner_grants_and_revokes_through_permissions_endpoints(alpha, api_as, experiment):
    alice = api_as(alpha, "alice")
    url = f"{BASE}{experiment.pk}/permissions/"
    granted = alice.post(f"{url}grant/", {"username": "bob", "actions": ["view", "change"]})
    assert granted.status_code == 200
    assert granted.json()["holders"]["bob"] == ["change", "view"]
    patched = api_as(alpha, "bob").patch(f"{BASE}{experiment.pk}/", {"description": "x"})
    assert patched.status_code == 200
    alice.post(f"{url}revoke/", {"username": "bob", "actions": ["view", "change"]})
    assert api_as(alpha, "bob").get(f"{BASE}{experiment.pk}/").status_code == 404


def test_anonymous_is_401(alpha, api_as, experiment):
    anonymous = api_as(alpha, None)
    assert anonymous.get(BASE).status_code == 401
    assert anonymous.get(f"{BASE}{experiment.pk}/").status_code == 401
    assert anonymous.post(BASE, {"name": "x"}).status_code == 401
    assert anonymous.delete(f"{BASE}{experiment.pk}/").status_code == 401


def test_cross_tenant_tokens_and_ids_never_reach_data(alpha, beta, api_as, experiment):
    # carol's beta token under /t/alpha/ is unknown there
    carol_in_alpha = api_as(beta, "carol", path_tenant=alpha)
    assert carol_in_alpha.get(BASE).status_code == 401
    assert carol_in_alpha.get(f"{BASE}{experiment.pk}/").status_code == 401
    assert carol_in_alpha.post(BASE, {"name": "x"}).status_code == 401
    # alpha's experiment id asked for under /t/beta/ by beta's owner is not there
    carol = api_as(beta, "carol")
    assert carol.get(f"{BASE}{experiment.pk}/").status_code == 404
    assert carol.delete(f"{BASE}{experiment.pk}/").status_code == 404
    # and alice's alpha token under /t/beta/ is unknown
    alice_in_beta = api_as(alpha, "alice", path_tenant=beta)
    assert alice_in_beta.get(f"{BASE}{experiment.pk}/").status_code == 401


# --- query counts --------------------------------------------------------------------------


def _make_experiments(alpha, count: int, grant_to: str | None = None) -> None:
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        made = Experiment.objects.bulk_create(
            [Experiment(name=f"e{count}-{i:05d}", created_by=alice) for i in range(count)]
        )
        if grant_to:
            from django.contrib.auth.models import Permission
            from django.contrib.contenttypes.models import ContentType

            user = user_in(alpha, grant_to)
            content_type = ContentType.objects.get_for_model(Experiment)
            permission = Permission.objects.get(codename="view_experiment")
            UserObjectPermission.objects.bulk_create(
                [UserObjectPermission(user=user, permission=permission,
                                      content_type=content_type, object_pk=str(e.pk))
                 for e in made]
            )


def _count_queries(caller, path) -> int:
    caller.get(path)  # the token's first use records last_used_at: not part of the list
    with CaptureQueriesContext(connection) as queries:
        response = caller.get(path)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_list_query_count_does_not_grow_with_experiments(alpha, api_as, persona):
    caller = api_as(alpha, persona)
    _make_experiments(alpha, 10, grant_to="bob")
    small = _count_queries(caller, BASE + "?page_size=500")
    _make_experiments(alpha, 1000, grant_to="bob")
    large = _count_queries(caller, BASE + "?page_size=500")
    assert small == large
    assert caller.get(BASE).json()["count"] == 1010
