"""Logged models, artifacts, registered models and versions of the MLflow API, in-process.

A model directory is saved with mlflow.sklearn (skops, the client's default, or pickle)
and uploaded file by file through the artifact endpoints, as the client does."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from django_tenants.utils import schema_context

from tests.registry.mlflow_api.conftest import error_of


@pytest.fixture()
def mia(alpha, mlf):
    return mlf(alpha, "mia", scope="write")


def _run(calls) -> tuple[str, str]:
    experiment_id = calls.post("experiments/create", {"name": "reg"}).json()["experiment_id"]
    run = calls.post("runs/create", {"experiment_id": experiment_id, "run_name": "r"}).json()
    return experiment_id, run["run"]["info"]["run_id"]


def _model_dir(tmp_path: Path, serialization: str, with_lambda: bool = False) -> Path:
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    model = LinearRegression()
    if with_lambda:  # code pickled by value: never on an allow-list
        model = make_pipeline(FunctionTransformer(lambda x: x * 1.0), model)
    model.fit(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]))
    target = tmp_path / f"{serialization}-{with_lambda}"
    mlflow.sklearn.save_model(model, target, serialization_format=serialization,
                              pip_requirements=["scikit-learn"])
    return target


def _upload(calls, prefix: str, folder: Path) -> None:
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            name = file.relative_to(folder).as_posix()
            reply = calls.send("PUT", f"api/2.0/mlflow-artifacts/artifacts/{prefix}/{name}",
                               file.read_bytes(), content_type="application/octet-stream")
            assert reply.status_code == 200, reply.content


def _logged_model(calls, run_id: str, tmp_path: Path, serialization="skops",
                  with_lambda=False) -> str:
    created = calls.post("logged-models", {"experiment_id": "1", "name": "model",
                                           "source_run_id": run_id,
                                           "params": [{"key": "alpha", "value": "1"}]})
    assert created.status_code == 200, created.content
    info = created.json()["model"]["info"]
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/models/{info['model_id']}/artifacts"
    folder = _model_dir(tmp_path, serialization, with_lambda)
    _upload(calls, f"models/{info['model_id']}/artifacts", folder)
    done = calls.patch(f"logged-models/{info['model_id']}",
                       {"model_id": info["model_id"], "status": "LOGGED_MODEL_READY"})
    assert done.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    return info["model_id"]


def test_logged_models_round_trip(mia, tmp_path):
    experiment_id, run_id = _run(mia)
    model_id = _logged_model(mia, run_id, tmp_path)
    assert mia.patch(f"logged-models/{model_id}/tags",
                     {"tags": [{"key": "k", "value": "v"}]}).status_code == 200
    assert mia.post(f"logged-models/{model_id}/params",
                    {"params": [{"key": "beta", "value": "2"}]}).status_code == 200
    got = mia.get(f"logged-models/{model_id}").json()["model"]
    assert {"key": "k", "value": "v"} in got["info"]["tags"]
    assert {p["key"] for p in got["data"]["params"]} == {"alpha", "beta"}
    assert got["info"]["source_run_id"] == run_id
    found = mia.post("logged-models/search", {"experiment_ids": [experiment_id],
                                              "filter": "name = 'model' and params.beta = '2'"})
    assert [m["info"]["model_id"] for m in found.json()["models"]] == [model_id]
    assert mia.post("logged-models/search", {"experiment_ids": [experiment_id],
                                             "filter": "tags.k = 'other'"}).json() == {
        "models": []}
    assert mia.delete(f"logged-models/{model_id}/tags/k").status_code == 200
    # the run lists the model as its output, and its files under the run
    run = mia.get("runs/get", run_id=run_id).json()["run"]
    assert run["outputs"]["model_outputs"] == [{"model_id": model_id, "step": 0}]
    listed = mia.get("api/2.0/mlflow-artifacts/artifacts",
                     path=f"models/{model_id}/artifacts").json()["files"]
    assert "MLmodel" in {f["path"] for f in listed}
    assert mia.delete(f"logged-models/{model_id}").status_code == 200
    gone = mia.get(f"logged-models/{model_id}")
    assert gone.status_code == 404
    assert error_of(gone) == "RESOURCE_DOES_NOT_EXIST"
    bad = mia.get("logged-models/m-not-an-id")
    assert error_of(bad) == "INVALID_PARAMETER_VALUE"


def test_artifacts_upload_list_download_and_delete(mia):
    _, run_id = _run(mia)
    base = f"api/2.0/mlflow-artifacts/artifacts/runs/{run_id}/artifacts"
    reply = mia.send("PUT", f"{base}/plots/roc.json", b'{"auc": 0.9}')
    assert reply.status_code == 200
    # a PUT of the same name replaces it, as MLflow's does
    assert mia.send("PUT", f"{base}/plots/roc.json", b'{"auc": 0.95}').status_code == 200
    top = mia.get("api/2.0/mlflow-artifacts/artifacts", path=f"runs/{run_id}/artifacts").json()
    assert top["files"] == [{"path": "plots", "is_dir": True}]
    inner = mia.get("api/2.0/mlflow-artifacts/artifacts",
                    path=f"runs/{run_id}/artifacts/plots").json()
    assert inner["files"] == [{"path": "roc.json", "is_dir": False, "file_size": 13}]
    got = mia.get(f"{base}/plots/roc.json")
    assert got.status_code == 200
    assert b"".join(got.streaming_content) == b'{"auc": 0.95}'
    legacy = mia.get("artifacts/list", run_id=run_id, path="plots").json()
    assert legacy["files"][0]["path"] == "plots/roc.json"
    assert mia.delete(f"{base}/plots/roc.json").status_code == 200
    missing = mia.get(f"{base}/plots/roc.json")
    assert missing.status_code == 404
    assert error_of(missing) == "RESOURCE_DOES_NOT_EXIST"


def test_registration_of_a_skops_model_is_verified_and_signed(mia, alpha, tmp_path):
    _, run_id = _run(mia)
    model_id = _logged_model(mia, run_id, tmp_path)
    assert mia.post("registered-models/create", {"name": "reg-model"}).status_code == 200
    again = mia.post("registered-models/create", {"name": "reg-model"})
    assert again.status_code == 400
    assert error_of(again) == "RESOURCE_ALREADY_EXISTS"
    created = mia.post("model-versions/create", {"name": "reg-model", "source":
                                                 f"models:/{model_id}", "model_id": model_id})
    assert created.status_code == 200, created.content
    version = created.json()["model_version"]
    assert version["version"] == "1"
    assert version["status"] == "READY"
    assert version["run_id"] == run_id
    assert version["model_id"] == model_id
    assert version["status_message"].startswith("Verified")
    assert all(not t["key"].startswith("mlgov.") for t in version["tags"])
    with schema_context(alpha.schema_name):
        from registry.models import ModelVersion

        row = ModelVersion.objects.get(registered_model__name="reg-model", version=1)
        assert row.verified
        assert row.ed25519_signature
        assert row.model_format == "skops"
        assert row.signature.get("inputs") is None or isinstance(row.signature, dict)
    # the download URI is the version's own, read-only folder
    uri = mia.get("model-versions/get-download-uri", name="reg-model", version="1").json()
    pk = uri["artifact_uri"].split("/")[2]
    files = mia.get("api/2.0/mlflow-artifacts/artifacts",
                    path=f"model-versions/{pk}/artifacts").json()["files"]
    assert {"MLmodel", "model.skops"} <= {f["path"] for f in files}
    blob = mia.get(f"api/2.0/mlflow-artifacts/artifacts/model-versions/{pk}/artifacts/model.skops")
    data = b"".join(blob.streaming_content)
    with schema_context(alpha.schema_name):
        assert hashlib.sha256(data).hexdigest() == row.sha256  # the registered, signed bytes
    import skops.io

    loaded = skops.io.load(io.BytesIO(data), trusted=skops.io.get_untrusted_types(data=data))
    assert float(loaded.predict([[3.0]])[0]) == pytest.approx(7.0)
    refused = mia.send("PUT", f"api/2.0/mlflow-artifacts/artifacts/model-versions/{pk}"
                       "/artifacts/model.skops", b"evil")
    assert error_of(refused) == "PERMISSION_DENIED"


def test_a_pickle_model_is_kept_unverified_and_never_served_to_a_stage(mia, tmp_path):
    # given two cloudpickled models: plain scikit-learn types, and one with a lambda
    _, run_id = _run(mia)
    plain = _logged_model(mia, run_id, tmp_path, serialization="cloudpickle")
    coded = _logged_model(mia, run_id, tmp_path, serialization="cloudpickle", with_lambda=True)
    mia.post("registered-models/create", {"name": "pickled"})
    # when both are registered
    first, second = (
        mia.post("model-versions/create", {"name": "pickled", "source": f"models:/{model_id}"}
                 ).json()["model_version"]
        for model_id in (plain, coded)
    )
    # then both are kept; only the one whose types pass the static check is verified
    assert first["status"] == second["status"] == "READY"
    assert first["status_message"].startswith("Verified")
    assert second["status_message"].startswith("Not verified")
    # and a version mlgov can never load cannot be staged
    staged = mia.post("model-versions/transition-stage", {"name": "pickled", "version": "2",
                                                          "stage": "Staging"})
    assert staged.status_code == 403
    assert error_of(staged) == "PERMISSION_DENIED"
    assert "not verified" in staged.json()["message"]


def test_registered_models_versions_aliases_stages_and_tags(mia, mlf, alpha, tmp_path):
    _, run_id = _run(mia)
    model_id = _logged_model(mia, run_id, tmp_path)
    mia.post("registered-models/create", {"name": "m", "description": "first",
                                          "tags": [{"key": "team", "value": "risk"}]})
    for _ in range(2):
        mia.post("model-versions/create", {"name": "m", "source": f"models:/{model_id}"})
    # stages (no gate configured in-process) and the newest version per stage
    moved = mia.post("model-versions/transition-stage", {"name": "m", "version": "1",
                                                         "stage": "production"})
    assert moved.json()["model_version"]["current_stage"] == "Production"
    latest = mia.post("registered-models/get-latest-versions", {"name": "m"}).json()
    assert {(v["version"], v["current_stage"]) for v in latest["model_versions"]} == {
        ("1", "Production"), ("2", "None")}
    only = mia.get("registered-models/get-latest-versions", name="m", stages="Production")
    assert [v["version"] for v in only.json()["model_versions"]] == ["1"]
    # aliases
    assert mia.post("registered-models/alias", {"name": "m", "alias": "prod",
                                                "version": "2"}).status_code == 200
    by_alias = mia.get("registered-models/alias", name="m", alias="prod").json()
    assert by_alias["model_version"]["version"] == "2"
    assert by_alias["model_version"]["aliases"] == ["prod"]
    model = mia.get("registered-models/get", name="m").json()["registered_model"]
    assert model["aliases"] == [{"alias": "prod", "version": "2"}]
    assert {"key": "team", "value": "risk"} in model["tags"]
    assert mia.delete("registered-models/alias", {"name": "m", "alias": "prod"}
                      ).status_code == 200
    assert error_of(mia.get("registered-models/alias", name="m", alias="prod")
                    ) == "RESOURCE_DOES_NOT_EXIST"
    bad_alias = mia.post("registered-models/alias", {"name": "m", "alias": "Bad Alias!",
                                                     "version": "1"})
    assert error_of(bad_alias) == "INVALID_PARAMETER_VALUE"
    # tags, description, search
    assert mia.post("model-versions/set-tag", {"name": "m", "version": "1", "key": "q",
                                               "value": "ok"}).status_code == 200
    assert error_of(mia.post("model-versions/set-tag", {"name": "m", "version": "1",
                                                        "key": "mlgov.x", "value": "1"})
                    ) == "INVALID_PARAMETER_VALUE"
    found = mia.get("model-versions/search", filter="name = 'm' and tags.q = 'ok'").json()
    assert [v["version"] for v in found["model_versions"]] == ["1"]
    by_run = mia.get("model-versions/search", filter=f"run_id = '{run_id}'",
                     order_by="version_number ASC").json()
    assert [v["version"] for v in by_run["model_versions"]] == ["1", "2"]
    assert mia.delete("model-versions/delete-tag", {"name": "m", "version": "1", "key": "q"}
                      ).status_code == 200
    updated = mia.patch("model-versions/update", {"name": "m", "version": "2",
                                                  "description": "second"}).json()
    assert updated["model_version"]["description"] == "second"
    assert mia.post("registered-models/set-tag", {"name": "m", "key": "k", "value": "v"}
                    ).status_code == 200
    assert mia.delete("registered-models/delete-tag", {"name": "m", "key": "k"}
                      ).status_code == 200
    searched = mia.get("registered-models/search", filter="name LIKE 'm%'").json()
    assert [m["name"] for m in searched["registered_models"]] == ["m"]
    assert mia.patch("registered-models/update", {"name": "m", "description": "d"}
                     ).json()["registered_model"]["description"] == "d"
    renamed = mia.post("registered-models/rename", {"name": "m", "new_name": "m2"}).json()
    assert renamed["registered_model"]["name"] == "m2"
    # versions are evidence; a model with versions is never deleted
    kept = mia.delete("model-versions/delete", {"name": "m2", "version": "1"})
    assert kept.status_code == 409
    assert error_of(kept) == "RESOURCE_CONFLICT"
    assert error_of(mia.delete("registered-models/delete", {"name": "m2"})) == "RESOURCE_CONFLICT"
    # others: bob sees nothing, victor may not change
    bob = mlf(alpha, "bob")
    assert error_of(bob.get("registered-models/get", name="m2")) == "RESOURCE_DOES_NOT_EXIST"
    assert bob.get("registered-models/search").json() == {"registered_models": []}
    victor = mlf(alpha, "victor")
    assert victor.get("model-versions/get", name="m2", version="1").status_code == 200
    assert error_of(victor.post("registered-models/alias", {"name": "m2", "alias": "x",
                                                            "version": "1"})
                    ) == "PERMISSION_DENIED"
    assert error_of(victor.post("registered-models/create", {"name": "v"})) == "PERMISSION_DENIED"


def test_registration_sources_that_name_no_stored_files_are_refused(mia):
    _, run_id = _run(mia)
    mia.post("registered-models/create", {"name": "src"})
    for source in ("s3://bucket/model", "file:///etc", "/tmp/model", f"runs:/{run_id}/../x",
                   "mlflow-artifacts://other-host/runs/x/artifacts", "models:/m-1"):
        reply = mia.post("model-versions/create", {"name": "src", "source": source})
        assert reply.status_code in (400, 404), (source, reply.content)
        assert error_of(reply) in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    nothing = mia.post("model-versions/create", {"name": "src", "source": f"runs:/{run_id}/m"})
    assert error_of(nothing) == "RESOURCE_DOES_NOT_EXIST"
