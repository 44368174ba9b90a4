"""Dataset version services: numbering (also under concurrency), nothing kept on refusal,
files removed only after the deleting transaction commits, usage by runs and models."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from registry.artifact_store import _artifact_path
from registry.models import (
    Artifact,
    DatasetVersion,
    Experiment,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
    Run,
    RunDatasetInput,
)
from registry.selectors.datasets import dataset_version_usage
from registry.services import datasets as services
from tests.conftest import user_in

CSV = b"age,income,group\n31,1200.5,a\n42,990,b\n"


def _files(tenant) -> set[Path]:
    root = Path(settings.ARTIFACT_ROOT) / tenant.schema_name
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def _upload(user, dataset, content=CSV, **kwargs):
    kwargs.setdefault("max_bytes", 1 << 20)
    kwargs.setdefault("file_format", "csv")
    return services.dataset_version_create(
        acting_user=user, dataset=dataset, content=[content], **kwargs
    )


@pytest.fixture()
def alice_dataset(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        dataset = services.dataset_create(acting_user=alice, name="credit", source="bank")
        yield alice, dataset


def test_versions_are_numbered_per_dataset(alpha, alice_dataset):
    alice, credit = alice_dataset
    other = services.dataset_create(acting_user=alice, name="other")
    assert [_upload(alice, credit).version for _ in range(3)] == [1, 2, 3]
    assert _upload(alice, other).version == 1
    version = DatasetVersion.objects.get(dataset=credit, version=2)
    assert version.row_count == 2
    assert [c["name"] for c in version.columns] == ["age", "income", "group"]


@pytest.mark.parametrize(
    ("content", "kwargs", "error"),
    [
        (CSV * 100, {"max_bytes": 64}, services.DatasetFileTooLarge),
        (b"\xff\xfe\x00garbage", {}, services.InvalidDatasetFile),
        (CSV, {"file_format": "parquet"}, services.InvalidDatasetFile),
        (CSV, {"sensitive_attributes": ["gender"]}, services.UnknownColumn),
        (CSV, {"target": "label"}, services.UnknownColumn),
    ],
    ids=["too-large", "binary", "csv-as-parquet", "unknown-sensitive", "unknown-target"],
)
def test_a_refused_upload_keeps_nothing(alpha, alice_dataset, content, kwargs, error):
    # given the artifact rows and files before
    alice, credit = alice_dataset
    rows, files = Artifact.objects.count(), _files(alpha)
    # when the upload is refused
    with pytest.raises(error):
        _upload(alice, credit, content, **kwargs)
    # then no artifact row, no file (not even a temporary one), no version
    assert Artifact.objects.count() == rows
    assert _files(alpha) == files
    assert not DatasetVersion.objects.filter(dataset=credit).exists()


def test_unknown_columns_are_named(alpha, alice_dataset):
    alice, credit = alice_dataset
    with pytest.raises(services.UnknownColumn) as refused:
        _upload(alice, credit, pii_columns=["age", "email"], sensitive_attributes=["gender"])
    assert refused.value.details["fields"] == {
        "pii_columns": ["email"],
        "sensitive_attributes": ["gender"],
    }


def _run_using(version, user) -> Run:
    experiment = Experiment.objects.create(name=f"exp-{version.pk}", created_by=user)
    run = Run.objects.create(experiment=experiment, start_time=timezone.now(), created_by=user)
    RunDatasetInput.objects.create(run=run, dataset_version=version)
    return run


def test_usage_lists_runs_and_the_model_versions_they_made(alpha, alice_dataset):
    alice, credit = alice_dataset
    version = _upload(alice, credit)
    assert dataset_version_usage(version) == {"runs": [], "model_versions": []}
    run = _run_using(version, alice)
    model = RegisteredModel.objects.create(name="scorer")
    made = ModelVersion.objects.create(registered_model=model, version=1, run=run)
    usage = dataset_version_usage(version)
    assert [r["id"] for r in usage["runs"]] == [run.pk]
    assert usage["runs"][0]["uuid"] == run.uuid.hex
    assert [m["id"] for m in usage["model_versions"]] == [made.pk]


def test_a_lineage_edge_alone_also_counts_as_use(alpha, alice_dataset):
    alice, credit = alice_dataset
    version = _upload(alice, credit)
    experiment = Experiment.objects.create(name="edge-only")
    run = Run.objects.create(experiment=experiment, start_time=timezone.now())
    LineageEdge.objects.create(
        source_type="dataset_version",
        source_id=str(version.pk),
        target_type="run",
        target_id=str(run.pk),
        relation="input",
    )
    with pytest.raises(services.DatasetVersionInUse):
        services.dataset_version_delete(acting_user=alice, version=version)


def test_used_versions_and_their_dataset_cannot_be_deleted(alpha, alice_dataset):
    alice, credit = alice_dataset
    version = _upload(alice, credit)
    _run_using(version, alice)
    with pytest.raises(services.DatasetVersionInUse) as refused:
        services.dataset_version_delete(acting_user=alice, version=version)
    assert refused.value.details == {"runs": 1, "model_versions": 0}
    with pytest.raises(services.DatasetInUse):
        services.dataset_delete(acting_user=alice, dataset=credit)
    assert DatasetVersion.objects.filter(pk=version.pk).exists()


def test_files_go_only_when_the_delete_commits(
    alpha, alice_dataset, django_capture_on_commit_callbacks
):
    alice, credit = alice_dataset
    version = _upload(alice, credit)
    path = _artifact_path(alpha.schema_name, version.artifact_id)

    # a delete that rolls back keeps the file
    def delete_then_fail():
        with transaction.atomic():
            services.dataset_version_delete(acting_user=alice, version=version)
            raise RuntimeError("rolled back")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            delete_then_fail()
    assert callbacks == []
    assert path.exists()
    assert DatasetVersion.objects.filter(pk=version.pk).exists()
    # a delete that commits removes it
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_delete(acting_user=alice, dataset=credit)
    assert not path.exists()
    assert not Artifact.objects.filter(pk=version.artifact_id).exists()


@pytest.mark.timeout(120)
def test_concurrent_uploads_get_distinct_numbers(django_db_setup, committed_tenant):
    # given a committed dataset and four uploads released at the same moment
    with schema_context(committed_tenant.schema_name):
        owner = user_in(committed_tenant, "owner")
        dataset = services.dataset_create(acting_user=owner, name="race")
    barrier = threading.Barrier(4)
    numbers, errors = [], []

    def upload():
        try:
            with schema_context(committed_tenant.schema_name):
                barrier.wait(timeout=30)
                numbers.append(_upload(owner, dataset).version)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=upload) for _ in range(4)]
    # when they run together
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then each got its own number, none failed
    assert errors == []
    assert sorted(numbers) == [1, 2, 3, 4]
    connection.set_schema_to_public()
