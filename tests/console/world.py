"""A small, realistic registry for console tests, made through the product's services: a
dataset with sensitive and PII columns, an experiment with runs that logged params, metrics
over steps and their input, a model whose first version came from a run (verified, with a
card, staged then promoted, aliased) and a second version.

Call `build_world(maintainer)` inside `schema_context(tenant.schema_name)`; the maintainer
creates everything, so they hold change and download on all of it (creator grants).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

from registry.models import Dataset, DatasetVersion, Experiment, ModelVersion, RegisteredModel, Run
from registry.services.datasets import dataset_create, dataset_version_create
from registry.services.experiments import experiment_create
from registry.services.metrics import run_log_batch
from registry.services.models import registered_model_create
from registry.services.run_artifacts import run_artifact_write
from registry.services.runs import run_create, run_dataset_input_add, run_update
from registry.services.stages import model_version_transition
from registry.services.versions import model_card_put, model_version_register_from_run

CSV = (
    b"customer_id,age,gender,email,tenure,churned\n"
    + b"".join(
        f"{n},{20 + n % 50},{'fm'[n % 2]},user{n}@example.test,{n % 72},{n % 3 == 0:d}\n".encode()
        for n in range(60)
    )
)


@dataclass
class World:
    dataset: Dataset
    dataset_version: DatasetVersion
    experiment: Experiment
    runs: list[Run]
    model: RegisteredModel
    version: ModelVersion
    second_version: ModelVersion


@functools.cache
def _skops_model() -> bytes:
    import numpy as np
    import skops.io
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 3))
    labels = (features[:, 0] > 0).astype(int)
    return skops.io.dumps(LogisticRegression().fit(features, labels))


def build_world(maintainer, *, prefix: str = "") -> World:
    dataset = dataset_create(
        acting_user=maintainer, name=f"{prefix}churn", description="Customers of 2024."
    )
    dataset_version = dataset_version_create(
        acting_user=maintainer,
        dataset=dataset,
        content=io.BytesIO(CSV),
        file_format="csv",
        max_bytes=10**6,
        target="churned",
        sensitive_attributes=["age", "gender"],
        pii_columns=["email"],
    )
    experiment = experiment_create(acting_user=maintainer, name=f"{prefix}churn-baseline")
    runs = []
    for index, c_value in enumerate(("0.1", "1.0", "10")):
        run = run_create(
            acting_user=maintainer,
            experiment=experiment,
            name=f"logreg-C{c_value}",
            params={"C": c_value, "penalty": "l2", "max_iter": str(100 + index)},
            tags={"team": "growth"},
        )
        points = []
        for step in range(30):
            points.append({"key": "loss", "value": 1.0 / (step + 1 + index), "step": step})
            points.append({"key": "accuracy", "value": 0.6 + step * 0.01 - index * 0.02,
                           "step": step})
        run_log_batch(acting_user=maintainer, run=run, metrics=points)
        run_dataset_input_add(
            acting_user=maintainer, run=run, dataset_version_id=dataset_version.pk
        )
        runs.append(run)
    run_artifact_write(
        acting_user=maintainer, run=runs[0], name="model.skops", source=[_skops_model()]
    )
    run_artifact_write(
        acting_user=maintainer, run=runs[1], name="model.skops", source=[_skops_model()]
    )
    for run in runs:
        run_update(acting_user=maintainer, run=run, status="finished")
    model = registered_model_create(
        acting_user=maintainer, name=f"{prefix}churn-classifier", description="Who leaves."
    )
    signature = {
        "inputs": [{"name": "age", "type": "int64"}, {"name": "tenure", "type": "int64"}],
        "outputs": [{"name": "churned", "type": "int"}],
    }
    version = model_version_register_from_run(
        acting_user=maintainer, model=model, run=runs[0], artifact_path="model.skops",
        signature=signature, metrics={"f1": 0.81, "roc_auc": 0.88},
    ).version
    second = model_version_register_from_run(
        acting_user=maintainer, model=model, run=runs[1], artifact_path="model.skops",
        signature=signature, metrics={"f1": 0.79},
    ).version
    model_card_put(
        acting_user=maintainer, version=version,
        intended_use="Rank customers for retention offers.",
        limitations="Trained on one market only.",
    )
    model_version_transition(
        acting_user=maintainer, version=version, stage="staging", reason="Offline metrics pass."
    )
    model_version_transition(
        acting_user=maintainer, version=version, stage="production", reason="Approved in review."
    )
    model_version_transition(acting_user=maintainer, version=version, alias="champion")
    return World(dataset, dataset_version, experiment, runs, model, version, second)
