"""The whole flow of issue 7 with the real mlflow client against a live mlgov.

create an experiment, start a run, log params, metrics (single and batch) and tags, log a
scikit-learn model with an input example, register it, set an alias, search runs with a
filter, read a metric history, load models:/<name>/<version> and models:/<name>@<alias>
and predict exactly what the model in memory predicts; then find it all in mlgov's REST
API, signed and verified, with lineage from the run to the version.
"""

from __future__ import annotations

import numpy as np
import pytest
import requests
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytestmark = pytest.mark.timeout(240)


def _rest(live, tenant, token_name, path):
    reply = requests.get(
        f"{live.base}/t/{tenant.slug}/api/v1/{path}",
        headers={"Authorization": f"Bearer {live.tokens[token_name]}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_the_stock_client_logs_registers_and_loads_a_model(live_mlflow, mlflow_as):
    import mlflow
    import mlflow.sklearn
    from mlflow.entities import Metric, Param, RunTag

    # given the maintainer's token for tenant A, through HTTP Basic (username + token)
    client = mlflow_as(live_mlflow.tenant_a, "a_maint", basic=True)
    data = load_iris(as_frame=True)
    features, target = data.data, data.target
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        features, target
    )
    expected = model.predict(features)

    # when the script logs a run with the fluent API, exactly as against MLflow
    experiment_id = mlflow.set_experiment("iris-flow").experiment_id
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_params({"C": 1.0, "max_iter": 500})
        mlflow.log_param("scaler", "standard")
        mlflow.log_metric("accuracy", 0.5, step=0)
        mlflow.log_metric("accuracy", float(model.score(features, target)), step=1)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("loss", 1.0 / (step + 1), 1_700_000_000_000 + step, step)
                     for step in range(50)],
            params=[Param("solver", "lbfgs")],
            tags=[RunTag("team", "risk")],
        )
        mlflow.set_tag("stage", "baseline")
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=features.head(3),
            registered_model_name="iris-classifier",
            # named, so the client skips inferring them in a subprocess (test speed only)
            pip_requirements=["scikit-learn", "skops"],
        )
    run_id = run.info.run_id

    # then the run reads back as logged
    fetched = client.get_run(run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.experiment_id == experiment_id
    assert fetched.data.params["C"] == "1.0"
    assert fetched.data.params["solver"] == "lbfgs"
    assert fetched.data.tags["team"] == "risk"
    assert fetched.data.tags["stage"] == "baseline"
    assert fetched.data.metrics["loss"] == pytest.approx(1.0 / 50)
    assert [output.model_id for output in fetched.outputs.model_outputs] == [info.model_id]
    # and a filtered search finds it (and only with the filter's meaning)
    found = mlflow.search_runs(
        [experiment_id], filter_string="metrics.accuracy > 0.9 and params.scaler = 'standard'",
        output_format="list",
    )
    assert [r.info.run_id for r in found] == [run_id]
    assert mlflow.search_runs([experiment_id], filter_string="params.scaler = 'minmax'",
                              output_format="list") == []
    # and the history is complete, in step order
    history = client.get_metric_history(run_id, "loss")
    assert [point.step for point in history] == list(range(50))
    assert [point.value for point in client.get_metric_history(run_id, "accuracy")][0] == 0.5

    # when the registered version gets a (not protected) alias
    version = client.get_latest_versions("iris-classifier", stages=["None"])[0]
    assert version.version == str(info.registered_model_version) == "1"
    assert version.run_id == run_id
    assert version.status == "READY"
    client.set_registered_model_alias("iris-classifier", "candidate", version.version)

    # then both model URIs load and predict what the model in memory predicts
    by_version = mlflow.pyfunc.load_model("models:/iris-classifier/1")
    by_alias = mlflow.sklearn.load_model("models:/iris-classifier@candidate")
    np.testing.assert_array_equal(by_version.predict(features), expected)
    np.testing.assert_array_equal(by_alias.predict(features), expected)
    assert client.get_model_version_by_alias("iris-classifier", "candidate").version == "1"
    # and the MLflow 2 way of registering (a runs:/ URI) finds the same logged model
    again = mlflow.register_model(f"runs:/{run_id}/model", "iris-classifier")
    assert again.version == "2"
    assert again.run_id == run_id

    # and mlgov's REST API shows the same objects: a verified, signed skops version with
    # its signature, made by the run (lineage), under the same governance
    versions = _rest(live_mlflow, live_mlflow.tenant_a, "a_maint", "model-versions/")["results"]
    mine = [v for v in versions if v["model_name"] == "iris-classifier" and v["version"] == 1]
    assert len(mine) == 1
    assert mine[0]["verified"] is True
    assert mine[0]["signed"] is True
    assert mine[0]["model_format"] == "skops"
    assert mine[0]["run_uuid"] == run_id
    assert mine[0]["aliases"] == ["candidate"]
    assert "inputs" in mine[0]["signature"]
    runs = _rest(live_mlflow, live_mlflow.tenant_a, "a_maint", "runs/?page_size=100")["results"]
    assert run_id in {r["uuid"].replace("-", "") for r in runs}
