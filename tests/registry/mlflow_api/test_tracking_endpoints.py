"""Experiments, runs, metrics and searches of the MLflow API, in-process (rolled back).

Personas (tests/conftest.py): alice owns tenant alpha, mia maintains, victor views, bob is
a member without a role; carol owns tenant beta."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from tests.registry.mlflow_api.conftest import error_of


@pytest.fixture()
def mia(alpha, mlf):
    return mlf(alpha, "mia", scope="write")


def _experiment(calls, name="exp") -> str:
    reply = calls.post("experiments/create", {"name": name, "tags": [{"key": "k", "value": "v"}]})
    assert reply.status_code == 200, reply.content
    return reply.json()["experiment_id"]


def _run(calls, experiment_id, name="r", tags=()) -> str:
    reply = calls.post("runs/create", {"experiment_id": experiment_id, "run_name": name,
                                       "start_time": 1_700_000_000_000, "tags": list(tags)})
    assert reply.status_code == 200, reply.content
    return reply.json()["run"]["info"]["run_id"]


def test_experiments_round_trip(mia):
    # given mia creates an experiment with a tag and a description (MLflow's note tag)
    experiment_id = _experiment(mia, "churn")
    assert mia.post("experiments/set-experiment-tag", {
        "experiment_id": experiment_id, "key": "mlflow.note.content", "value": "about churn"
    }).status_code == 200
    # when it is read by id and by name / then MLflow's entity comes back
    by_id = mia.get("experiments/get", experiment_id=experiment_id).json()["experiment"]
    by_name = mia.get("experiments/get-by-name", experiment_name="churn").json()["experiment"]
    assert by_id == by_name
    assert by_id["name"] == "churn"
    assert by_id["lifecycle_stage"] == "active"
    assert {"key": "k", "value": "v"} in by_id["tags"]
    assert {"key": "mlflow.note.content", "value": "about churn"} in by_id["tags"]
    assert by_id["artifact_location"] == f"mlflow-artifacts:/experiments/{experiment_id}"
    # and a second experiment of that name is RESOURCE_ALREADY_EXISTS, a 400 as in MLflow
    again = mia.post("experiments/create", {"name": "churn"})
    assert again.status_code == 400
    assert error_of(again) == "RESOURCE_ALREADY_EXISTS"
    # rename, tag removal, delete and restore
    assert mia.post("experiments/update", {"experiment_id": experiment_id,
                                           "new_name": "churn-2"}).status_code == 200
    assert mia.post("experiments/delete-experiment-tag",
                    {"experiment_id": experiment_id, "key": "k"}).status_code == 200
    missing = mia.post("experiments/delete-experiment-tag",
                       {"experiment_id": experiment_id, "key": "k"})
    assert error_of(missing) == "RESOURCE_DOES_NOT_EXIST"
    assert mia.post("experiments/delete", {"experiment_id": experiment_id}).status_code == 200
    active = mia.post("experiments/search", {"filter": "name = 'churn-2'"}).json()
    assert active.get("experiments", []) == []
    deleted = mia.post("experiments/search", {"filter": "name = 'churn-2'",
                                              "view_type": "DELETED_ONLY"}).json()
    assert [e["experiment_id"] for e in deleted["experiments"]] == [experiment_id]
    assert mia.post("experiments/restore", {"experiment_id": experiment_id}).status_code == 200


def test_experiment_search_filters_orders_and_pages(mia):
    ids = [_experiment(mia, f"search-{n}") for n in range(5)]
    mia.post("experiments/set-experiment-tag", {"experiment_id": ids[2], "key": "team",
                                                "value": "risk"})
    tagged = mia.get("experiments/search", filter="tags.team = 'risk'").json()
    assert [e["experiment_id"] for e in tagged["experiments"]] == [ids[2]]
    liked = mia.get("experiments/search", filter="name LIKE 'search-%'",
                    order_by="name DESC").json()
    assert [e["name"] for e in liked["experiments"]][:2] == ["search-4", "search-3"]
    # pages of two, following next_page_token
    seen, token = [], None
    while True:
        body = {"filter": "name ILIKE 'SEARCH-%'", "max_results": 2, "order_by": ["name"]}
        if token:
            body["page_token"] = token
        page = mia.post("experiments/search", body).json()
        seen += [e["name"] for e in page["experiments"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == [f"search-{n}" for n in range(5)]


def test_runs_log_and_read_back(mia):
    experiment_id = _experiment(mia)
    run_id = _run(mia, experiment_id, "first", tags=[{"key": "mlflow.user", "value": "mia"}])
    # when params, metrics and tags are logged one by one and in a batch
    assert mia.post("runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"}
                    ).status_code == 200
    assert mia.post("runs/log-metric", {"run_id": run_id, "key": "loss", "value": "NaN",
                                        "timestamp": 1, "step": 0}).status_code == 200
    batch = {"run_id": run_id,
             "metrics": [{"key": "loss", "value": 1.0 / (s + 1), "timestamp": 10 + s, "step": s}
                         for s in range(1, 6)],
             "params": [{"key": "depth", "value": "3"}],
             "tags": [{"key": "team", "value": "risk"}]}
    assert mia.post("runs/log-batch", batch).status_code == 200
    assert mia.post("runs/set-tag", {"run_id": run_id, "key": "mlflow.runName",
                                     "value": "renamed"}).status_code == 200
    # then the run shows them, and a changed param is refused as in MLflow
    run = mia.get("runs/get", run_id=run_id).json()["run"]
    assert run["info"]["run_name"] == "renamed"
    assert run["info"]["status"] == "RUNNING"
    assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"lr": "0.1", "depth": "3"}
    assert {t["key"] for t in run["data"]["tags"]} >= {"team", "mlflow.user", "mlflow.runName"}
    assert run["data"]["metrics"] == [{"key": "loss", "value": 1.0 / 6, "timestamp": 15,
                                       "step": 5}]
    changed = mia.post("runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.2"})
    assert changed.status_code == 400
    assert error_of(changed) == "INVALID_PARAMETER_VALUE"
    reserved = mia.post("runs/set-tag", {"run_id": run_id, "key": "mlgov.x", "value": "1"})
    assert error_of(reserved) == "INVALID_PARAMETER_VALUE"
    # history pages in step order, NaN as MLflow's JSON spells it
    first = mia.get("metrics/get-history", run_id=run_id, metric_key="loss", max_results=4)
    body = first.json()
    assert [m["step"] for m in body["metrics"]] == [0, 1, 2, 3]
    assert body["metrics"][0]["value"] == "NaN"
    rest = mia.get("metrics/get-history", run_id=run_id, metric_key="loss",
                   max_results=4, page_token=body["next_page_token"]).json()
    assert [m["step"] for m in rest["metrics"]] == [4, 5]
    assert "next_page_token" not in rest
    forged = mia.get("metrics/get-history", run_id=run_id, metric_key="loss",
                     page_token=body["next_page_token"][:-2] + "xx")
    assert error_of(forged) == "INVALID_PARAMETER_VALUE"
    # ending the run, deleting and restoring it
    ended = mia.post("runs/update", {"run_id": run_id, "status": "FINISHED",
                                     "end_time": 1_700_000_100_000})
    assert ended.json()["run_info"]["status"] == "FINISHED"
    assert ended.json()["run_info"]["end_time"] == 1_700_000_100_000
    assert mia.post("runs/delete", {"run_id": run_id}).status_code == 200
    write = mia.post("runs/log-metric", {"run_id": run_id, "key": "x", "value": 1,
                                         "timestamp": 1})
    assert error_of(write) == "INVALID_PARAMETER_VALUE"
    assert mia.post("runs/restore", {"run_id": run_id}).status_code == 200


def test_model_linked_metric_copies_are_not_stored_twice(mia):
    experiment_id = _experiment(mia)
    run_id = _run(mia, experiment_id)
    point = {"key": "acc", "value": 0.9, "timestamp": 5, "step": 0}
    mia.post("runs/log-batch", {"run_id": run_id, "metrics": [point]})
    # the 3.x client re-sends a run's metrics with the new model's id when it logs a model
    mia.post("runs/log-batch", {"run_id": run_id, "metrics": [{**point, "model_id": "m-1"}]})
    history = mia.get("metrics/get-history", run_id=run_id, metric_key="acc").json()
    assert len(history["metrics"]) == 1


def test_run_search_filters_and_orders(mia):
    experiment_id = _experiment(mia)
    runs = {}
    for n in range(4):
        run_id = _run(mia, experiment_id, f"run-{n}")
        runs[n] = run_id
        mia.post("runs/log-batch", {
            "run_id": run_id,
            "metrics": [{"key": "rmse", "value": float(n), "timestamp": 1, "step": 0}],
            "params": [{"key": "model", "value": "tree" if n % 2 else "linear"}],
            "tags": [{"key": "team", "value": "Risk" if n < 2 else "growth"}],
        })

    def search(text, **extra):
        reply = mia.post("runs/search", {"experiment_ids": [experiment_id], "filter": text,
                                         **extra})
        assert reply.status_code == 200, reply.content
        return [r["info"]["run_name"] for r in reply.json().get("runs", [])]

    assert search("metrics.rmse >= 2", order_by=["metrics.rmse DESC"]) == ["run-3", "run-2"]
    assert search("params.model = 'tree' and metrics.rmse < 3",
                  order_by=["attributes.run_name"]) == ["run-1"]
    assert search("params.model != 'tree'", order_by=["run_name"]) == ["run-0", "run-2"]
    assert search("tags.team ILIKE 'risk'", order_by=["run_name"]) == ["run-0", "run-1"]
    assert search("tags.team LIKE 'risk'") == []
    assert search(f"attributes.run_id IN ('{runs[1]}', '{runs[3]}')",
                  order_by=["run_name"]) == ["run-1", "run-3"]
    assert search("attributes.status = 'RUNNING' and start_time > 0", order_by=["run_name"]
                  ) == ["run-0", "run-1", "run-2", "run-3"]
    assert search("tags.missing IS NULL and run_name LIKE 'run-_'",
                  order_by=["params.model DESC", "run_name"]) == ["run-1", "run-3", "run-0",
                                                                   "run-2"]


@pytest.mark.parametrize("text", [
    "metrics.rmse < 'one'",
    "params.model > 1",
    "attributes.nonsense = 'x'",
    "attributes.run_id LIKE 'a%'",
    "metrics.rmse < 1 OR metrics.rmse > 2",
    "status = 'NOT_A_STATUS'",
    "run_id = 'not-hex'",
    "datasets.name LIKE 'x%'",
    "start_time > 1e30",
    "(((",
])
def test_a_filter_it_cannot_use_is_invalid_parameter_value(mia, text):
    experiment_id = _experiment(mia)
    reply = mia.post("runs/search", {"experiment_ids": [experiment_id], "filter": text})
    assert reply.status_code == 400
    assert error_of(reply) == "INVALID_PARAMETER_VALUE"


def test_run_search_costs_the_same_queries_for_10_and_200_runs(alpha, mia):
    from registry.models import Experiment, Run, RunMetricLatest, RunParam, RunTag

    experiment_id = _experiment(mia, "many")

    def add(count):
        with schema_context(alpha.schema_name):
            experiment = Experiment.objects.get(pk=experiment_id)
            made = Run.objects.bulk_create(
                [Run(experiment=experiment, name=f"bulk-{n}", start_time="2026-01-01T00:00Z")
                 for n in range(count)])
            RunParam.objects.bulk_create([RunParam(run=r, key=f"p{k}", value="v")
                                          for r in made for k in range(3)])
            RunTag.objects.bulk_create([RunTag(run=r, key="t", value="v") for r in made])
            RunMetricLatest.objects.bulk_create(
                [RunMetricLatest(run=r, key="m", value=1.0, step=0, timestamp=0) for r in made])

    def queries():
        with CaptureQueriesContext(connection) as captured:
            reply = mia.post("runs/search", {"experiment_ids": [experiment_id],
                                             "filter": "metrics.m > 0 and params.p1 = 'v'"})
        assert reply.status_code == 200
        return len(captured), len(reply.json()["runs"])

    add(10)
    few, shown_few = queries()
    add(190)
    many, shown_many = queries()
    assert (shown_few, shown_many) == (10, 200)
    assert few == many


def test_permissions_and_tenants(alpha, beta, mlf, mia):
    experiment_id = _experiment(mia, "private")
    run_id = _run(mia, experiment_id)
    # bob, a member without a role, sees none of it: not even that it exists
    bob = mlf(alpha, "bob")
    for reply in (bob.get("experiments/get", experiment_id=experiment_id),
                  bob.get("runs/get", run_id=run_id),
                  bob.post("runs/log-metric", {"run_id": run_id, "key": "m", "value": 1,
                                               "timestamp": 1})):
        assert reply.status_code == 404
        assert error_of(reply) == "RESOURCE_DOES_NOT_EXIST"
    denied = bob.post("experiments/create", {"name": "bobs"})
    assert denied.status_code == 403
    assert error_of(denied) == "PERMISSION_DENIED"
    assert bob.post("runs/search", {"experiment_ids": [experiment_id]}).json() == {"runs": []}
    # victor (viewer) reads but may not write
    victor = mlf(alpha, "victor")
    assert victor.get("runs/get", run_id=run_id).status_code == 200
    refused = victor.post("runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"})
    assert refused.status_code == 403
    assert error_of(refused) == "PERMISSION_DENIED"
    # a read token of the owner may search (a POST) but not write
    reader = mlf(alpha, "alice", scope="read")
    assert reader.post("runs/search", {"experiment_ids": [experiment_id]}).status_code == 200
    assert error_of(reader.post("runs/log-parameter", {"run_id": run_id, "key": "a",
                                                       "value": "b"})) == "PERMISSION_DENIED"
    # carol's token under alpha's URL is unknown; under her own tenant the run is not there
    cross = mlf(alpha, "carol", token_tenant=beta)
    reply = cross.get("runs/get", run_id=run_id)
    assert reply.status_code == 401
    assert error_of(reply) == "UNAUTHENTICATED"
    own = mlf(beta, "carol")
    assert error_of(own.get("runs/get", run_id=run_id)) == "RESOURCE_DOES_NOT_EXIST"
    anonymous = mlf(alpha, None)
    assert error_of(anonymous.get("experiments/search")) == "UNAUTHENTICATED"


def test_unknown_endpoints_and_bad_bodies_answer_in_mlflow_shape(mia):
    unknown = mia.get("api/2.0/mlflow/traces/search")
    assert unknown.status_code == 404
    assert error_of(unknown) == "ENDPOINT_NOT_FOUND"
    wrong_method = mia.get("runs/create")
    assert wrong_method.status_code == 405
    assert error_of(wrong_method) == "ENDPOINT_NOT_FOUND"
    broken = mia.send("POST", "runs/create", b"{not json")
    assert broken.status_code == 400
    assert error_of(broken) == "MALFORMED_REQUEST"
    missing = mia.get("runs/get")
    assert error_of(missing) == "INVALID_PARAMETER_VALUE"
    info = mia.get("api/3.0/mlflow/server-info").json()
    assert info["workspaces_enabled"] is False
    assert info["multipart_uploads_enabled"] is False


def test_logged_inputs_are_recorded_and_mlgov_datasets_linked(alpha, mia):
    from registry.models import LineageEdge, Run, RunDatasetInput
    from registry.services.datasets import dataset_create, dataset_version_create
    from tests.conftest import user_in

    # given a dataset version of the tenant, read by a notebook from mlgov's download URL
    with schema_context(alpha.schema_name):
        dataset = dataset_create(acting_user=user_in(alpha, "mia"), name="churn-data")
        dataset_version_create(acting_user=user_in(alpha, "mia"), dataset=dataset,
                               content=[b"a,b\n1,2\n"], file_format="csv", max_bytes=1024)
    url = f"http://127.0.0.1:8000/t/alpha/api/v1/datasets/{dataset.pk}/versions/1/download/"
    experiment_id = _experiment(mia)
    run_id = _run(mia, experiment_id)
    # when the client logs it as an input (and another, foreign one)
    inputs = [
        {"dataset": {"name": "churn", "digest": "abc123", "source_type": "http",
                     "source": f'{{"url": "{url}"}}', "schema": "{}", "profile": "{}"},
         "tags": [{"key": "mlflow.data.context", "value": "training"}]},
        {"dataset": {"name": "outside", "digest": "ffff", "source_type": "s3",
                     "source": '{"uri": "s3://bucket/x.csv"}'},
         "tags": [{"key": "mlflow.data.context", "value": "eval"}]},
    ]
    assert mia.post("runs/log-inputs", {"run_id": run_id, "datasets": inputs}).status_code == 200
    # then the run shows both as MLflow inputs, and searches find them
    run = mia.get("runs/get", run_id=run_id).json()["run"]
    assert {i["dataset"]["name"] for i in run["inputs"]["dataset_inputs"]} == {"churn",
                                                                             "outside"}
    found = mia.post("runs/search", {"experiment_ids": [experiment_id],
                                     "filter": "datasets.name = 'churn' and "
                                               "datasets.context = 'training'"}).json()
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]
    assert mia.post("runs/search", {"experiment_ids": [experiment_id],
                                    "filter": "datasets.digest = 'nope'"}).json() == {"runs": []}
    # and the mlgov dataset version became the run's input, with lineage
    with schema_context(alpha.schema_name):
        row = Run.objects.get(uuid=run_id)
        linked = RunDatasetInput.objects.get(run=row)
        assert linked.dataset_version.dataset_id == dataset.pk
        assert linked.context == "training"
        assert LineageEdge.objects.filter(target_type="run", target_id=str(row.pk),
                                          relation="input").count() == 1
