"""Run services: create, status transitions, immutable params, tags, inputs and lineage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from registry.artifact_store import artifact_write
from registry.models import Dataset, DatasetVersion, LineageEdge, RunParam, RunTag
from registry.services.experiments import TrackingError, experiment_create, experiment_delete
from registry.services.runs import (
    run_create,
    run_dataset_input_add,
    run_delete,
    run_params_log,
    run_restore,
    run_tag_delete,
    run_tags_set,
    run_update,
)
from tests.conftest import user_in


@pytest.fixture()
def world(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        experiment = experiment_create(acting_user=alice, name="exp")
        yield {"alice": alice, "experiment": experiment, "schema": alpha.schema_name}


def test_create_records_params_tags_and_an_audit_event(world):
    run = run_create(
        acting_user=world["alice"],
        experiment=world["experiment"],
        name="r1",
        params={"lr": "0.1"},
        tags=[{"key": "team", "value": "risk"}],
    )
    assert run.status == "running"
    assert run.start_time is not None
    assert dict(RunParam.objects.filter(run=run).values_list("key", "value")) == {"lr": "0.1"}
    assert dict(RunTag.objects.filter(run=run).values_list("key", "value")) == {"team": "risk"}
    event = AuditEvent.objects.get(action="run.create", object_id=str(run.pk))
    assert event.after["params"] == {"lr": "0.1"}


def test_parent_run_must_be_in_the_same_experiment(world):
    other = experiment_create(acting_user=world["alice"], name="other")
    parent = run_create(acting_user=world["alice"], experiment=other)
    with pytest.raises(TrackingError) as caught:
        run_create(acting_user=world["alice"], experiment=world["experiment"], parent_run=parent)
    assert caught.value.code == "invalid_parent_run"


def test_writing_needs_change_on_the_experiment(alpha, world):
    # given mia (maintainer: sees every experiment, changes only what she was granted)
    mia = user_in(alpha, "mia")
    with pytest.raises(TrackingError) as caught:
        run_create(acting_user=mia, experiment=world["experiment"])
    assert (caught.value.status, caught.value.code) == (403, "permission_denied")
    # and bob (no role) does not even see it
    with pytest.raises(TrackingError) as caught:
        run_create(acting_user=user_in(alpha, "bob"), experiment=world["experiment"])
    assert caught.value.status == 404


def test_an_object_grant_of_change_lets_a_member_write(alpha, world):
    from registry.permissions import object_permission_grant

    mia = user_in(alpha, "mia")
    object_permission_grant(world["experiment"], mia, ["change"])
    mia = user_in(alpha, "mia")  # fresh permission caches
    run = run_create(acting_user=mia, experiment=world["experiment"])
    assert run.created_by == mia


@pytest.mark.parametrize("final", ["finished", "failed", "killed"])
def test_ending_a_run_sets_its_end_time_and_it_stays_ended(world, final):
    run = run_create(acting_user=world["alice"], experiment=world["experiment"])
    ended = run_update(acting_user=world["alice"], run=run, status=final)
    assert ended.status == final
    assert ended.end_time is not None
    with pytest.raises(TrackingError) as caught:
        run_update(acting_user=world["alice"], run=ended, status="running")
    assert (caught.value.status, caught.value.code) == (400, "invalid_status_transition")


def test_end_time_before_start_is_refused(world):
    run = run_create(acting_user=world["alice"], experiment=world["experiment"])
    with pytest.raises(TrackingError) as caught:
        run_update(
            acting_user=world["alice"],
            run=run,
            status="finished",
            end_time=run.start_time - timedelta(seconds=1),
        )
    assert caught.value.code == "invalid_end_time"
    later = timezone.now() + timedelta(minutes=1)
    assert (
        run_update(acting_user=world["alice"], run=run, status="finished", end_time=later).end_time
        == later
    )


def test_a_param_never_changes_value(world):
    run = run_create(acting_user=world["alice"], experiment=world["experiment"], params={"a": "1"})
    # the same value again is fine
    assert run_params_log(acting_user=world["alice"], run=run, params={"a": "1", "b": "2"}) == {
        "b": "2"
    }
    with pytest.raises(TrackingError) as caught:
        run_params_log(acting_user=world["alice"], run=run, params={"a": "9"})
    assert (caught.value.status, caught.value.code) == (409, "param_immutable")
    assert caught.value.details == {"key": "a", "logged_value": "1", "new_value": "9"}
    assert RunParam.objects.get(run=run, key="a").value == "1"


def test_tags_are_set_overwritten_and_deleted(world):
    run = run_create(acting_user=world["alice"], experiment=world["experiment"])
    run_tags_set(acting_user=world["alice"], run=run, tags={"k": "1"})
    run_tags_set(acting_user=world["alice"], run=run, tags=[{"key": "k", "value": "2"}])
    assert RunTag.objects.get(run=run, key="k").value == "2"
    run_tag_delete(acting_user=world["alice"], run=run, key="k")
    with pytest.raises(TrackingError) as caught:
        run_tag_delete(acting_user=world["alice"], run=run, key="k")
    assert caught.value.code == "tag_not_found"


@pytest.mark.parametrize("key", ["", "a" * 251, "../x", "/abs", "a//b", "a/", "bad\nkey", "x;y"])
def test_bad_param_keys_are_refused(world, key):
    run = run_create(acting_user=world["alice"], experiment=world["experiment"])
    with pytest.raises(TrackingError) as caught:
        run_params_log(acting_user=world["alice"], run=run, params={key: "v"})
    assert caught.value.code == "invalid_param"


def test_deleted_runs_and_runs_of_deleted_experiments_refuse_writes(world):
    run = run_create(acting_user=world["alice"], experiment=world["experiment"])
    run_delete(acting_user=world["alice"], run=run)
    with pytest.raises(TrackingError) as caught:
        run_tags_set(acting_user=world["alice"], run=run, tags={"k": "v"})
    assert caught.value.code == "run_deleted"
    run = run_restore(acting_user=world["alice"], run=run)
    experiment_delete(acting_user=world["alice"], experiment=world["experiment"])
    run.experiment.refresh_from_db()
    with pytest.raises(TrackingError) as caught:
        run_tags_set(acting_user=world["alice"], run=run, tags={"k": "v"})
    assert caught.value.code == "experiment_deleted"


def _dataset_version(user) -> DatasetVersion:
    dataset = Dataset.objects.create(name="credit", created_by=user)
    artifact = artifact_write(kind="dataset", source=[b"a,b\n1,2\n"], acting_user=user)
    return DatasetVersion.objects.create(
        dataset=dataset, version=1, artifact=artifact, file_format="csv", row_count=1
    )


def test_dataset_input_adds_a_lineage_edge_once(world):
    run = run_create(acting_user=world["alice"], experiment=world["experiment"])
    version = _dataset_version(world["alice"])
    for _ in range(2):
        run_dataset_input_add(
            acting_user=world["alice"], run=run, dataset_version_id=version.pk
        )
    edge = LineageEdge.objects.get()
    assert (edge.source_type, edge.source_id, edge.target_type, edge.target_id, edge.relation) == (
        "dataset_version",
        str(version.pk),
        "run",
        str(run.pk),
        "input",
    )
    assert AuditEvent.objects.filter(action="run.input_add").count() == 1


def test_dataset_input_needs_view_on_the_dataset(alpha, world):
    from registry.permissions import object_permission_grant

    # given bob may change the experiment but sees no dataset
    bob = user_in(alpha, "bob")
    object_permission_grant(world["experiment"], bob, ["view", "change"])
    bob = user_in(alpha, "bob")
    run = run_create(acting_user=bob, experiment=world["experiment"])
    version = _dataset_version(world["alice"])
    with pytest.raises(TrackingError) as caught:
        run_dataset_input_add(acting_user=bob, run=run, dataset_version_id=version.pk)
    assert caught.value.code == "dataset_version_not_found"
    assert not LineageEdge.objects.exists()
