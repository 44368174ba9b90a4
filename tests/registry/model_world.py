"""Builders for the model-registry tests: models, versions, runs with files, sklearn models.

Call them inside `schema_context(tenant.schema_name)`.
"""

from __future__ import annotations

import io
import pickle

import numpy as np
from django.utils import timezone

from registry.artifact_store import artifact_write
from registry.models import (
    Artifact,
    Experiment,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
    Run,
    RunArtifact,
)
from registry.permissions import grant_creator_permissions
from registry.services.models import registered_model_create

# A pickle that would call os.system if anyone ever unpickled it. Never load it.
EVIL_PICKLE = b"cos\nsystem\n(S'touch /tmp/mlgov-pwned'\ntR."


def make_model(user, name: str = "churn", **kwargs) -> RegisteredModel:
    return registered_model_create(acting_user=user, name=name, **kwargs)


def make_version(
    model: RegisteredModel,
    number: int | None = None,
    *,
    stage: str = ModelVersion.Stage.NONE,
    verified: bool = True,
    user=None,
) -> ModelVersion:
    """A bare version row (no file): enough for stages, aliases, lists and lineage."""
    if number is None:
        number = (
            model.versions.order_by("-version").values_list("version", flat=True).first() or 0
        ) + 1
    return ModelVersion.objects.create(
        registered_model=model,
        version=number,
        stage=stage,
        verified=verified,
        model_format="skops",
        created_by=user,
    )


def make_experiment(user, name: str = "exp") -> Experiment:
    experiment = Experiment.objects.create(name=name, created_by=user)
    grant_creator_permissions(experiment, user)
    return experiment


def make_run(experiment: Experiment, user=None, name: str = "") -> Run:
    return Run.objects.create(
        experiment=experiment, name=name, start_time=timezone.now(), created_by=user
    )


def log_file(run: Run, path: str, payload: bytes, user=None) -> RunArtifact:
    artifact = artifact_write(kind=Artifact.Kind.RUN_FILE, source=[payload], acting_user=user)
    return RunArtifact.objects.create(run=run, path=path, artifact=artifact)


def edge(source: tuple[str, int], target: tuple[str, int], relation: str) -> LineageEdge:
    return LineageEdge.objects.create(
        source_type=source[0],
        source_id=str(source[1]),
        target_type=target[0],
        target_id=str(target[1]),
        relation=relation,
    )


def sklearn_classifier():
    """A small fitted LogisticRegression and rows to predict."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(80, 4))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    return LogisticRegression().fit(features, labels), features[:10]


def skops_bytes(model) -> bytes:
    import skops.io

    return skops.io.dumps(model)


def pickle_bytes(model) -> bytes:
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def joblib_bytes(model) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()
