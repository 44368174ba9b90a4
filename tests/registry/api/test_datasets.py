"""/t/<slug>/api/v1/datasets/: create, list, retrieve, PATCH, DELETE, object permissions.

Personas (tests/conftest.py): alice owns alpha; mia maintains; victor views; bob has no
role; carol owns beta.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm

from mlgov.audit.models import AuditEvent
from registry.models import Dataset, Experiment, Run, RunDatasetInput
from registry.services import datasets as services
from tests.conftest import user_in


def _dataset(tenant, username: str, name: str) -> Dataset:
    with schema_context(tenant.schema_name):
        return services.dataset_create(acting_user=user_in(tenant, username), name=name)


def _events(tenant, action: str) -> list[AuditEvent]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


# --- create --------------------------------------------------------------------------


def test_maintainer_creates_and_gets_the_creator_permissions(alpha, api_as):
    # given mia, a maintainer
    mia = api_as(alpha, "mia")
    # when she registers a dataset
    response = mia.post("api/v1/datasets/", {"name": "credit", "source": "core banking"})
    # then it exists, is hers to change and delete, and the creation is audited
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "credit"
    assert body["created_by"] == "mia"
    assert body["version_count"] == 0
    assert body["latest_version"] is None
    assert mia.patch(f"api/v1/datasets/{body['id']}/", {"description": "x"}).status_code == 200
    [event] = _events(alpha, "dataset.create")
    assert event.actor_username == "mia"
    assert event.after == {"name": "credit", "description": "", "source": "core banking"}


@pytest.mark.parametrize(
    ("username", "scope", "status", "code"),
    [
        ("victor", "admin", 403, "permission_denied"),
        ("bob", "admin", 403, "permission_denied"),
        ("alice", "read", 403, "insufficient_scope"),
    ],
)
def test_who_may_not_create(alpha, api_as, username, scope, status, code):
    response = api_as(alpha, username, scope=scope).post("api/v1/datasets/", {"name": "x"})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_create_refuses_unknown_fields_and_taken_names(alpha, api_as):
    alice = api_as(alpha, "alice")
    refused = alice.post("api/v1/datasets/", {"name": "credit", "created_by": 1})
    assert refused.status_code == 400
    assert "created_by" in refused.json()["error"]["details"]["fields"]
    assert alice.post("api/v1/datasets/", {"name": "credit"}).status_code == 201
    taken = alice.post("api/v1/datasets/", {"name": "credit"})
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "dataset_name_taken"
    assert alice.post("api/v1/datasets/", {"name": ""}).status_code == 400


# --- list and retrieve -----------------------------------------------------------------


def test_lists_show_only_what_each_user_may_see(alpha, api_as):
    # given two datasets, one of them granted to bob
    credit = _dataset(alpha, "alice", "credit")
    _dataset(alpha, "mia", "churn")
    with schema_context(alpha.schema_name):
        assign_perm("view_dataset", user_in(alpha, "bob"), credit)

    def names(username):
        response = api_as(alpha, username).get("api/v1/datasets/")
        assert response.status_code == 200
        return [row["name"] for row in response.json()["results"]]

    # then the roles see both, bob only his grant
    assert names("victor") == ["churn", "credit"]
    assert names("mia") == ["churn", "credit"]
    assert names("bob") == ["credit"]


def test_retrieve_hides_what_the_user_may_not_see(alpha, beta, api_as):
    credit = _dataset(alpha, "alice", "credit")
    path = f"api/v1/datasets/{credit.pk}/"
    assert api_as(alpha, "victor").get(path).status_code == 200
    assert api_as(alpha, "bob").get(path).status_code == 404
    assert api_as(alpha, None).get(path).status_code == 401
    # carol's beta token under /t/alpha/ is unknown there
    assert api_as(beta, "carol", path_tenant=alpha).get(path).status_code == 401
    # the alpha id asked for under /t/beta/ is never alpha's dataset
    assert api_as(beta, "carol").get(path).status_code == 404
    assert api_as(alpha, "alice", path_tenant=beta).get(path).status_code == 401
    assert api_as(alpha, "alice").get("api/v1/datasets/abc/").status_code == 404


def _list_queries(api, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("username", ["alice", "bob"])
def test_list_query_count_does_not_grow(alpha, api_as, username):
    # given a user who sees datasets through a role (alice) or per-object grants (bob)
    api = api_as(alpha, username)
    with schema_context(alpha.schema_name):
        user = user_in(alpha, username)
        creator = user_in(alpha, "alice")

        def add(count, start):
            rows = Dataset.objects.bulk_create(
                Dataset(name=f"d{start + i:05}", created_by=creator) for i in range(count)
            )
            if username == "bob":
                from django.contrib.auth.models import Permission
                from django.contrib.contenttypes.models import ContentType

                content_type = ContentType.objects.get_for_model(Dataset)
                view = Permission.objects.get(content_type=content_type, codename="view_dataset")
                UserObjectPermission.objects.bulk_create(
                    UserObjectPermission(
                        user=user, permission=view, content_type=content_type, object_pk=str(d.pk)
                    )
                    for d in rows
                )

        add(10, 0)
    api.get("api/v1/datasets/")  # warm up (token last-used stamp, content types)
    small = _list_queries(api, "api/v1/datasets/")
    with schema_context(alpha.schema_name):
        add(990, 10)
    large = _list_queries(api, "api/v1/datasets/")
    assert small == large
    assert api.get("api/v1/datasets/").json()["count"] == 1000


# --- PATCH -------------------------------------------------------------------------------


def test_patch_changes_only_the_editable_fields(alpha, api_as):
    credit = _dataset(alpha, "alice", "credit")
    alice = api_as(alpha, "alice")
    path = f"api/v1/datasets/{credit.pk}/"
    response = alice.patch(path, {"name": "credit-2024", "description": "loans"})
    assert response.status_code == 200
    assert response.json()["name"] == "credit-2024"
    [event] = _events(alpha, "dataset.update")
    assert event.before["name"] == "credit"
    assert event.after["name"] == "credit-2024"
    for field in ("created_by", "owner", "tenant", "id", "sha256", "status"):
        refused = alice.patch(path, {field: "x"})
        assert refused.status_code == 400, field
        assert field in refused.json()["error"]["details"]["fields"]


@pytest.mark.parametrize(
    ("username", "scope", "status"),
    [
        ("mia", "admin", 403),  # sees every dataset, changes only hers
        ("victor", "admin", 403),
        ("bob", "admin", 404),
        ("alice", "read", 403),
        (None, "admin", 401),
    ],
)
def test_who_may_not_patch(alpha, api_as, username, scope, status):
    credit = _dataset(alpha, "alice", "credit")
    response = api_as(alpha, username, scope=scope).patch(
        f"api/v1/datasets/{credit.pk}/", {"description": "x"}
    )
    assert response.status_code == status


def test_put_is_not_offered(alpha, api_as):
    credit = _dataset(alpha, "alice", "credit")
    assert api_as(alpha, "alice").put(f"api/v1/datasets/{credit.pk}/", {}).status_code == 405


# --- DELETE ------------------------------------------------------------------------------


def test_delete_is_audited_and_refused_while_a_run_used_a_version(alpha, api_as):
    # given a dataset with one version that a run consumed
    from registry.models import DatasetVersion

    credit = _dataset(alpha, "alice", "credit")
    with schema_context(alpha.schema_name):
        alice_user = user_in(alpha, "alice")
        version = services.dataset_version_create(
            acting_user=alice_user,
            dataset=credit,
            content=[b"a,b\n1,2\n"],
            file_format="csv",
            max_bytes=1000,
        )
        run = Run.objects.create(
            experiment=Experiment.objects.create(name="e"), start_time=timezone.now()
        )
        consumed = RunDatasetInput.objects.create(run=run, dataset_version=version)
    alice = api_as(alpha, "alice")
    path = f"api/v1/datasets/{credit.pk}/"
    # when alice deletes it, then it is refused
    refused = alice.delete(path)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "dataset_in_use"
    assert refused.json()["error"]["details"] == {"runs": 1, "model_versions": 0}
    # and once the run no longer references it, it goes, with its versions
    with schema_context(alpha.schema_name):
        consumed.delete()
    assert alice.delete(path).status_code == 204
    with schema_context(alpha.schema_name):
        assert not Dataset.objects.filter(pk=credit.pk).exists()
        assert not DatasetVersion.objects.filter(pk=version.pk).exists()
    [event] = _events(alpha, "dataset.delete")
    assert event.before["versions"] == [1]


@pytest.mark.parametrize(
    ("username", "scope", "status"),
    [
        ("mia", "admin", 403),
        ("victor", "admin", 403),
        ("bob", "admin", 404),
        ("alice", "read", 403),
    ],
)
def test_who_may_not_delete(alpha, api_as, username, scope, status):
    credit = _dataset(alpha, "alice", "credit")
    response = api_as(alpha, username, scope=scope).delete(f"api/v1/datasets/{credit.pk}/")
    assert response.status_code == status
    with schema_context(alpha.schema_name):
        assert Dataset.objects.filter(pk=credit.pk).exists()


def test_creator_maintainer_may_delete_her_own(alpha, api_as):
    mine = _dataset(alpha, "mia", "mine")
    assert api_as(alpha, "mia").delete(f"api/v1/datasets/{mine.pk}/").status_code == 204
    with schema_context(alpha.schema_name):
        # no grant outlives its dataset
        assert not UserObjectPermission.objects.filter(object_pk=str(mine.pk)).exists()


# --- object permissions ----------------------------------------------------------------


def test_grants_through_the_permissions_endpoints(alpha, api_as):
    credit = _dataset(alpha, "alice", "credit")
    alice = api_as(alpha, "alice")
    base = f"api/v1/datasets/{credit.pk}/permissions/"
    granted = alice.post(base + "grant/", {"username": "bob", "actions": ["view"]})
    assert granted.status_code == 200, granted.json()
    assert granted.json()["holders"]["bob"] == ["view"]
    assert api_as(alpha, "bob").get(f"api/v1/datasets/{credit.pk}/").status_code == 200
    assert api_as(alpha, "bob").get(base).status_code == 403  # sees it, may not manage it
    assert (
        api_as(alpha, "victor")
        .post(base + "grant/", {"username": "bob", "actions": ["change"]})
        .status_code
        == 403
    )
    assert (
        api_as(alpha, "alice", scope="write")
        .post(base + "revoke/", {"username": "bob", "actions": ["view"]})
        .status_code
        == 403
    )
    revoked = alice.post(base + "revoke/", {"username": "bob", "actions": ["view"]})
    assert revoked.status_code == 200
    assert api_as(alpha, "bob").get(f"api/v1/datasets/{credit.pk}/").status_code == 404
