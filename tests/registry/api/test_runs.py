"""/t/<slug>/api/v1/runs/: create, list with filters, detail without N+1, status, params,
tags, dataset inputs, soft delete; permissions, tenancy and query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from guardian.shortcuts import assign_perm

from registry.artifact_store import artifact_write
from registry.models import (
    Dataset,
    DatasetVersion,
    LineageEdge,
    Run,
    RunDatasetInput,
    RunMetricLatest,
    RunParam,
    RunTag,
)
from registry.services.experiments import experiment_create
from registry.services.runs import run_create
from tests.conftest import user_in

BASE = "api/v1/runs/"


@pytest.fixture()
def world(alpha):
    """alice's experiment with one run."""
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        experiment = experiment_create(acting_user=alice, name="exp")
        run = run_create(acting_user=alice, experiment=experiment, name="r0")
    return {"experiment": experiment, "run": run}


def _code(response) -> str:
    return response.json()["error"]["code"]


def test_create_and_read_a_run_with_params_tags_and_parent(alpha, api_as, world):
    alice = api_as(alpha, "alice", scope="write")
    created = alice.post(BASE, {
        "experiment": world["experiment"].pk, "name": "child",
        "parent_run": world["run"].pk, "params": {"lr": 0.1}, "tags": {"t": "v"},
    })
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "running"
    assert body["end_time"] is None
    assert body["params"] == {"lr": "0.1"}
    assert body["tags"] == {"t": "v"}
    assert body["parent_run"] == world["run"].pk
    assert body["created_by"] == "alice"
    assert alice.get(f"{BASE}{body['id']}/").json() == body


def test_create_in_an_invisible_or_missing_experiment_is_the_same_400(alpha, api_as, world):
    bob = api_as(alpha, "bob")
    invisible = bob.post(BASE, {"experiment": world["experiment"].pk})
    missing = bob.post(BASE, {"experiment": 987654})
    assert invisible.status_code == missing.status_code == 400
    assert invisible.json() == missing.json()


def test_create_needs_change_on_the_experiment(alpha, api_as, world):
    response = api_as(alpha, "mia").post(BASE, {"experiment": world["experiment"].pk})
    assert response.status_code == 403
    assert _code(response) == "permission_denied"


@pytest.mark.parametrize("final", ["finished", "failed", "killed"])
def test_status_moves_forward_only(alpha, api_as, world, final):
    alice = api_as(alpha, "alice")
    url = f"{BASE}{world['run'].pk}/"
    ended = alice.patch(url, {"status": final})
    assert ended.status_code == 200
    assert ended.json()["end_time"] is not None
    again = alice.patch(url, {"status": "running"})
    assert again.status_code == 400
    assert _code(again) == "invalid_status_transition"


@pytest.mark.parametrize(
    "payload",
    [{"status": "bogus"}, {"experiment": 1}, {"lifecycle_stage": "deleted"},
     {"start_time": "2020-01-01T00:00:00Z"}, {"end_time": "2020-01-01T00:00:00Z"},
     {"created_by": 1}, {"uuid": "x"}],
)
def test_patch_refuses_what_it_cannot_set(alpha, api_as, world, payload):
    response = api_as(alpha, "alice").patch(f"{BASE}{world['run'].pk}/", payload)
    assert response.status_code == 400, response.content


def test_param_is_immutable_and_tags_set_and_delete(alpha, api_as, world):
    alice = api_as(alpha, "alice")
    url = f"{BASE}{world['run'].pk}/"
    assert alice.post(f"{url}params/", {"params": {"a": "1"}}).status_code == 200
    assert alice.post(f"{url}params/", {"params": [{"key": "a", "value": "1"}]}).status_code == 200
    changed = alice.post(f"{url}params/", {"params": {"a": "2"}})
    assert changed.status_code == 409
    assert _code(changed) == "param_immutable"
    assert alice.post(f"{url}tags/", {"tags": {"k": "v"}}).json()["tags"] == {"k": "v"}
    assert alice.delete(f"{url}tags/?key=k").json()["tags"] == {}
    gone = alice.delete(f"{url}tags/?key=k")
    assert gone.status_code == 404
    assert _code(gone) == "tag_not_found"


def test_soft_delete_hides_the_run_until_restored(alpha, api_as, world):
    alice = api_as(alpha, "alice")
    url = f"{BASE}{world['run'].pk}/"
    assert alice.delete(url).json()["lifecycle_stage"] == "deleted"
    assert alice.get(BASE).json()["count"] == 0
    assert alice.get(BASE + "?lifecycle_stage=deleted").json()["count"] == 1
    refused = alice.post(f"{url}tags/", {"tags": {"k": "v"}})
    assert refused.status_code == 409
    assert _code(refused) == "run_deleted"
    assert alice.post(f"{url}restore/").json()["lifecycle_stage"] == "active"
    assert alice.get(BASE + "?lifecycle_stage=bogus").status_code == 400


def test_list_filters(alpha, api_as, world):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        mia = user_in(alpha, "mia")
        other = experiment_create(acting_user=mia, name="mias")
        child = run_create(acting_user=alice, experiment=world["experiment"],
                           parent_run=world["run"])
        mias = run_create(acting_user=mia, experiment=other)
        Run.objects.filter(pk=child.pk).update(status="finished")
    caller = api_as(alpha, "alice")

    def ids(query):
        response = caller.get(BASE + query)
        assert response.status_code == 200, response.content
        return sorted(run["id"] for run in response.json()["results"])

    assert ids(f"?experiment={other.pk}") == [mias.pk]
    assert ids("?status=finished") == [child.pk]
    assert ids(f"?parent_run={world['run'].pk}") == [child.pk]
    assert ids(f"?created_by={mia.pk}") == [mias.pk]
    assert ids("?created_by_username=alice") == sorted([world["run"].pk, child.pk])
    assert caller.get(BASE + "?status=bogus").status_code == 400
    assert caller.get(BASE + "?experiment=abc").status_code == 400


def test_list_shows_only_runs_of_visible_experiments(alpha, api_as, world):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        hidden = experiment_create(acting_user=alice, name="hidden")
        run_create(acting_user=alice, experiment=hidden)
        assign_perm("view_experiment", user_in(alpha, "bob"), world["experiment"])
    bob = api_as(alpha, "bob")
    assert [run["id"] for run in bob.get(BASE).json()["results"]] == [world["run"].pk]
    assert api_as(alpha, "alice").get(BASE).json()["count"] == 2


def test_dataset_input_is_listed_and_makes_a_lineage_edge(alpha, api_as, world):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        dataset = Dataset.objects.create(name="credit", created_by=alice)
        artifact = artifact_write(kind="dataset", source=[b"a\n1\n"], acting_user=alice)
        version = DatasetVersion.objects.create(
            dataset=dataset, version=1, artifact=artifact, file_format="csv", row_count=1
        )
    caller = api_as(alpha, "alice")
    url = f"{BASE}{world['run'].pk}/inputs/"
    added = caller.post(url, {"dataset_version": version.pk, "context": "evaluation"})
    assert added.status_code == 201, added.content
    assert added.json()["dataset_name"] == "credit"
    assert caller.get(url).json()["results"][0]["context"] == "evaluation"
    detail = caller.get(f"{BASE}{world['run'].pk}/").json()
    assert detail["dataset_inputs"][0]["dataset_version"] == version.pk
    with schema_context(alpha.schema_name):
        assert LineageEdge.objects.filter(target_id=str(world["run"].pk), relation="input").exists()
    missing = caller.post(url, {"dataset_version": 987654})
    assert missing.status_code == 400
    assert _code(missing) == "dataset_version_not_found"
    bad = caller.post(url, {"dataset_version": version.pk, "context": "Bad Context"})
    assert bad.status_code == 400
    assert _code(bad) == "invalid_context"


# --- permissions and tenancy ---------------------------------------------------------------


def _every_run_endpoint(run_id: int) -> list[tuple[str, str, dict | None]]:
    url = f"{BASE}{run_id}/"
    return [
        ("get", url, None),
        ("patch", url, {"name": "x"}),
        ("delete", url, None),
        ("post", f"{url}restore/", None),
        ("post", f"{url}params/", {"params": {"p": "1"}}),
        ("post", f"{url}tags/", {"tags": {"k": "v"}}),
        ("delete", f"{url}tags/?key=k", None),
        ("get", f"{url}metrics/", None),
        ("post", f"{url}metrics/", {"metrics": [{"key": "m", "value": 1}]}),
        ("get", f"{url}metrics/history/?key=m", None),
        ("get", f"{url}inputs/", None),
        ("post", f"{url}inputs/", {"dataset_version": 1}),
        ("get", f"{url}artifacts/", None),
    ]


def _call(caller, method, path, payload):
    function = getattr(caller, method)
    return function(path, payload) if payload is not None else function(path)


def test_bob_gets_404_on_every_run_endpoint(alpha, api_as, world):
    bob = api_as(alpha, "bob")
    for method, path, payload in _every_run_endpoint(world["run"].pk):
        assert _call(bob, method, path, payload).status_code == 404, (method, path)


@pytest.mark.parametrize("persona", ["mia", "victor", "rita", "audrey"])
def test_roles_that_only_view_get_403_on_every_run_write(alpha, api_as, world, persona):
    caller = api_as(alpha, persona)
    for method, path, payload in _every_run_endpoint(world["run"].pk):
        status = _call(caller, method, path, payload).status_code
        expected = 200 if method == "get" else 403
        assert status == expected, (persona, method, path, status)


def test_read_scope_anonymous_and_cross_tenant(alpha, beta, api_as, world):
    reader = api_as(alpha, "alice", scope="read")
    anonymous = api_as(alpha, None)
    carol_in_alpha = api_as(beta, "carol", path_tenant=alpha)
    carol = api_as(beta, "carol")
    for method, path, payload in _every_run_endpoint(world["run"].pk):
        response = _call(reader, method, path, payload)
        if method == "get":
            assert response.status_code == 200, path
        else:
            assert (response.status_code, _code(response)) == (403, "insufficient_scope"), path
        assert _call(anonymous, method, path, payload).status_code == 401
        assert _call(carol_in_alpha, method, path, payload).status_code == 401
        assert _call(carol, method, path, payload).status_code == 404, (method, path)
    assert reader.post(BASE, {"experiment": world["experiment"].pk}).status_code == 403
    assert anonymous.get(BASE).status_code == 401
    assert carol_in_alpha.get(BASE).status_code == 401
    assert carol.get(BASE).json()["count"] == 0


# --- query counts --------------------------------------------------------------------------


def _grow(alpha, world, count: int) -> None:
    """`count` more runs, each with a tag, two latest metrics, a param and an input."""
    with schema_context(alpha.schema_name):
        experiment = world["experiment"]
        runs = Run.objects.bulk_create(
            [Run(experiment=experiment, name=f"r{i}", start_time=world["run"].start_time)
             for i in range(count)]
        )
        RunTag.objects.bulk_create([RunTag(run=r, key="k", value="v") for r in runs])
        RunParam.objects.bulk_create([RunParam(run=r, key="p", value="1") for r in runs])
        RunMetricLatest.objects.bulk_create(
            [RunMetricLatest(run=r, key=key, value=1.0, step=1, timestamp=1)
             for r in runs for key in ("acc", "loss")]
        )


def _queries(caller, path) -> int:
    caller.get(path)  # the token's first use records last_used_at: not part of the list
    with CaptureQueriesContext(connection) as queries:
        response = caller.get(path)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_run_list_query_count_does_not_grow(alpha, api_as, world, persona):
    with schema_context(alpha.schema_name):
        assign_perm("view_experiment", user_in(alpha, "bob"), world["experiment"])
    caller = api_as(alpha, persona)
    _grow(alpha, world, 10)
    small = _queries(caller, BASE + "?page_size=500")
    _grow(alpha, world, 1000)
    large = _queries(caller, BASE + "?page_size=500")
    assert small == large
    page = caller.get(BASE + "?page_size=500").json()
    assert page["count"] == 1011
    assert len(page["results"]) == 500
    assert {m["key"] for m in page["results"][0]["latest_metrics"]} <= {"acc", "loss"}


def test_run_detail_has_no_n_plus_one(alpha, api_as, world):
    caller = api_as(alpha, "alice")
    url = f"{BASE}{world['run'].pk}/"
    with schema_context(alpha.schema_name):
        run = world["run"]
        RunParam.objects.create(run=run, key="p0", value="v")
        RunTag.objects.create(run=run, key="t0", value="v")
        RunMetricLatest.objects.create(run=run, key="m0", value=1, step=0, timestamp=0)
    few = _queries(caller, url)
    with schema_context(alpha.schema_name):
        RunParam.objects.bulk_create([RunParam(run=run, key=f"p{i}", value="v")
                                      for i in range(1, 300)])
        RunTag.objects.bulk_create([RunTag(run=run, key=f"t{i}", value="v")
                                    for i in range(1, 300)])
        RunMetricLatest.objects.bulk_create(
            [RunMetricLatest(run=run, key=f"m{i}", value=1, step=0, timestamp=0)
             for i in range(1, 300)]
        )
    assert _queries(caller, url) == few
    assert len(caller.get(url).json()["params"]) == 300


def test_inputs_list_query_count_does_not_grow(alpha, api_as, world):
    caller = api_as(alpha, "alice")
    run = world["run"]

    def add_inputs(start, count):
        with schema_context(alpha.schema_name):
            alice = user_in(alpha, "alice")
            dataset = Dataset.objects.create(name=f"d{start}", created_by=alice)
            artifact = artifact_write(kind="dataset", source=[b"a\n1\n"], acting_user=alice)
            versions = DatasetVersion.objects.bulk_create(
                [DatasetVersion(dataset=dataset, version=i + 1, artifact=artifact,
                                file_format="csv", row_count=1) for i in range(count)]
            )
            RunDatasetInput.objects.bulk_create(
                [RunDatasetInput(run=run, dataset_version=v) for v in versions]
            )

    add_inputs(0, 10)
    small = _queries(caller, f"{BASE}{run.pk}/inputs/?page_size=500")
    add_inputs(1, 1000)
    assert _queries(caller, f"{BASE}{run.pk}/inputs/?page_size=500") == small
