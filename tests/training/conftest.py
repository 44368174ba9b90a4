"""Fixtures of the training-job tests: a small labelled dataset, jobs made through the
service, messages captured instead of sent (in-process tests), committed data for tests
that execute jobs (their lease thread has its own connection) or start a real worker."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.db import connection, transaction
from django_tenants.utils import schema_context

from tests.conftest import user_in

FAST_SPEC = {"target": "label", "trials": 2, "folds": 2, "seed": 3}


def classification_csv(rows: int = 120, seed: int = 7) -> bytes:
    """Songs with two audio features, a region and a label the features explain."""
    rng = np.random.default_rng(seed)
    energy = rng.uniform(0, 1, rows)
    tempo = rng.normal(120, 20, rows)
    region = rng.choice(["north", "south"], rows)
    score = 2.0 * energy + 0.01 * (tempo - 120) + rng.normal(0, 0.15, rows)
    frame = pd.DataFrame(
        {
            "energy": energy.round(4),
            "tempo": tempo.round(2),
            "region": region,
            "label": np.where(score > 1.0, "dance", "calm"),
        }
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def make_dataset_version(
    tenant, username: str, *, name: str = "songs", rows: int = 120, declare: bool = True
):
    """A dataset with one CSV version, created by `username` in `tenant`; `declare`: the
    version names its target (label) and sensitive attribute (region)."""
    from registry.services.datasets import dataset_create, dataset_version_create

    with schema_context(tenant.schema_name):
        user = user_in(tenant, username)
        dataset = dataset_create(acting_user=user, name=name)
        return dataset_version_create(
            acting_user=user,
            dataset=dataset,
            content=[classification_csv(rows)],
            file_format="csv",
            max_bytes=10 * 1024 * 1024,
            target="label" if declare else "",
            sensitive_attributes=["region"] if declare else [],
        )


@dataclass
class SentMessages:
    """Messages the services would have sent, as (task name, args, options)."""

    sent: list = field(default_factory=list)

    def job_parts(self) -> list[tuple[int, int]]:
        return [(args[0], args[1]) for _, args, _ in self.sent]


@pytest.fixture()
def sent_messages(monkeypatch) -> SentMessages:
    """Capture (after commit, as the real thing) instead of sending to the broker."""
    from training.services import jobs

    captured = SentMessages()

    def capture(task, *args, **options):
        transaction.on_commit(lambda: captured.sent.append((task.name, args, options)))

    monkeypatch.setattr(jobs, "enqueue_after_commit", capture)
    return captured


def submit(tenant, username: str, version, **overrides):
    from training.services.jobs import training_job_submit

    values = {
        "dataset_version_id": version.pk,
        "recipe": "classification",
        "spec": dict(FAST_SPEC),
        "registered_model_name": "song-mood",
        "parallelism": 1,
    }
    values.update(overrides)
    with schema_context(tenant.schema_name):
        return training_job_submit(acting_user=user_in(tenant, username), **values)


@pytest.fixture()
def committed_db(django_db_setup, django_db_blocker):
    """Database access without a wrapping transaction: writes commit, as on a worker."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield
        connection.set_schema_to_public()


@pytest.fixture()
def fast_heartbeat():
    """Heartbeats every second (the default is 10 s) for tests that watch them."""
    previous = settings.MLGOV_JOB_HEARTBEAT_SECONDS
    settings.MLGOV_JOB_HEARTBEAT_SECONDS = 1
    yield
    settings.MLGOV_JOB_HEARTBEAT_SECONDS = previous
