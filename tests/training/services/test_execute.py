"""training_job_execute in this process (no broker, no worker): what one delivery does.

Committed data throughout: the job's lease thread works on a connection of its own.
"""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tenants.models import UsageRecord
from tests.training.conftest import make_dataset_version, submit
from training.models import JobState, TrainingJob
from training.services.execute import Delivery, training_job_execute


def execute(tenant, job_id: int, part: int = 0) -> str:
    with schema_context(tenant.schema_name):
        return training_job_execute(
            job_id=job_id, delivery=Delivery(task_id=f"test-{job_id}", hostname="test", part=part)
        )


def reload(tenant, job_id: int) -> TrainingJob:
    with schema_context(tenant.schema_name):
        return TrainingJob.objects.select_related("model_version").get(pk=job_id)


@pytest.fixture()
def world(committed_tenant, committed_db, sent_messages):
    version = make_dataset_version(committed_tenant, "maint")
    return committed_tenant, version


def test_a_delivery_trains_and_registers_one_signed_version_with_lineage(world):
    from registry.models import LineageEdge, ModelVersion, Run
    from registry.services.signing import model_version_signature_check

    tenant, version = world
    # given a submitted job
    job = submit(tenant, "maint", version)
    # when one delivery runs it
    outcome = execute(tenant, job.pk)
    # then it succeeded with its resources, links and a log
    assert outcome == "succeeded"
    job = reload(tenant, job.pk)
    assert job.state == JobState.SUCCEEDED
    assert (job.progress_percent, job.progress_stage) == (100, "done")
    assert job.deliveries == 1
    assert job.cpu_seconds > 0
    assert job.peak_memory_bytes > 0
    assert job.wall_seconds > 0
    assert job.trials_logged == 2
    assert "registered song-mood v1" in job.log
    with schema_context(tenant.schema_name):
        versions = list(ModelVersion.objects.all())
        assert [v.pk for v in versions] == [job.model_version_id]
        model_version = versions[0]
        # one signed, verified version with signature, metrics and the reference profile
        assert model_version.verified
        assert model_version.idempotency_key == f"training-job:{job.pk}"
        model_version_signature_check(model_version)
        assert model_version.signature["inputs"]
        assert model_version.metrics["roc_auc"] > 0.8
        assert set(model_version.reference_profile["features"]) == {"energy", "tempo"}
        assert "confusion_matrix" in job.metrics
        # two child runs under the finished parent run, each with params and metrics
        parent = Run.objects.get(pk=job.parent_run_id)
        assert parent.status == Run.Status.FINISHED
        assert model_version.run_id == parent.pk
        children = list(parent.child_runs.order_by("name"))
        assert [c.name for c in children] == ["trial-0", "trial-1"]
        assert all(c.params.exists() and c.latest_metrics.exists() for c in children)
        # lineage: dataset version -input-> parent run -produced-> model version
        edges = set(LineageEdge.objects.values_list(
            "source_type", "source_id", "relation", "target_type", "target_id"
        ))
        assert ("dataset_version", str(version.pk), "input", "run", str(parent.pk)) in edges
        assert ("run", str(parent.pk), "produced", "model_version", str(model_version.pk)) in edges
    # and its CPU seconds and model bytes are in the usage ledger
    ledger = UsageRecord.objects.filter(tenant=tenant, source__contains=f"trainingjob:{job.pk}")
    kinds = dict(ledger.values_list("kind", "quantity"))
    assert float(kinds["cpu_seconds"]) == pytest.approx(job.cpu_seconds, abs=0.01)
    assert int(kinds["storage_bytes"]) == model_version.artifact.size_bytes


def test_a_redelivered_message_of_a_finished_job_is_a_no_op(world):
    from registry.models import ModelVersion

    tenant, version = world
    job = submit(tenant, "maint", version, spec={"target": "label", "trials": 1, "folds": 2})
    assert execute(tenant, job.pk) == "succeeded"
    # when the same message is delivered again
    outcome = execute(tenant, job.pk)
    # then nothing runs and nothing is registered twice
    assert outcome.startswith("skipped")
    assert reload(tenant, job.pk).deliveries == 1
    with schema_context(tenant.schema_name):
        assert ModelVersion.objects.count() == 1


def _plan(tenant, **limits):
    from tenants.models import Plan

    plan = Plan.objects.create(name=f"test-{tenant.slug}-{len(limits)}", **limits)
    tenant.plan = plan
    tenant.save(update_fields=["plan"])
    return plan


def test_a_job_that_passes_the_cpu_allowance_is_stopped_and_failed(world):
    from registry.models import ModelVersion, Run

    tenant, version = world
    # given a plan with one CPU second a month, none used yet, and a job of many trials
    _plan(tenant, cpu_seconds_per_month=1)
    job = submit(tenant, "maint", version, spec={"target": "label", "trials": 200, "folds": 2})
    # when it runs past the allowance
    outcome = execute(tenant, job.pk)
    # then it stopped between trials and failed with the quota's reason, registering nothing
    assert outcome == JobState.FAILED
    job = reload(tenant, job.pk)
    assert job.failure_code == "quota_exceeded"
    assert "CPU seconds this month" in job.failure_reason
    assert 0 < job.trials_logged < 200
    with schema_context(tenant.schema_name):
        assert ModelVersion.objects.count() == 0
        assert Run.objects.get(pk=job.parent_run_id).status == Run.Status.FAILED
    # and what it used is booked
    assert UsageRecord.objects.filter(tenant=tenant, kind="cpu_seconds").count() == 1


def test_a_part_delivered_the_maximum_number_of_times_fails_instead_of_running(world, settings):
    tenant, version = world
    # given a job whose three deliveries so far all died (its worker never finished it)
    job = submit(tenant, "maint", version)
    with schema_context(tenant.schema_name):
        TrainingJob.objects.filter(pk=job.pk).update(
            state=JobState.RUNNING, part_deliveries={"0": 3}, deliveries=3
        )
    # when it is delivered once more
    outcome = execute(tenant, job.pk)
    # then it fails with the reason, without running
    assert outcome.startswith("skipped")
    job = reload(tenant, job.pk)
    assert (job.state, job.failure_code) == (JobState.FAILED, "worker_died")
    assert job.failure_reason == "worker died 3 times"
    assert job.deliveries == 3
    assert job.parent_run_id is None


def test_a_second_delivery_while_the_part_runs_elsewhere_is_dropped(world, monkeypatch):
    from training.services import lease as lease_module
    from training.services.lease import JobLease

    tenant, version = world
    monkeypatch.setattr(lease_module, "LEASE_WAIT_SECONDS", 0.3)
    job = submit(tenant, "maint", version)
    # given another process (here: a lease held by this test) working on the job
    with JobLease(schema=tenant.schema_name, table="training_trainingjob", job_id=job.pk,
                  part=0) as held:
        assert held.acquired
        # when the message is delivered again
        outcome = execute(tenant, job.pk)
    # then this delivery does nothing, not even count itself
    assert outcome == "skipped: the part is running elsewhere"
    assert reload(tenant, job.pk).deliveries == 0


def test_a_cancelled_queued_job_is_not_run_when_its_message_arrives(world):
    from tests.conftest import user_in
    from training.services.jobs import training_job_cancel

    tenant, version = world
    job = submit(tenant, "maint", version)
    with schema_context(tenant.schema_name):
        training_job_cancel(acting_user=user_in(tenant, "maint"), job=job)
    assert execute(tenant, job.pk).startswith("skipped")
    job = reload(tenant, job.pk)
    assert job.state == JobState.CANCELLED
    assert job.deliveries == 0


def test_distributed_search_shares_one_study_and_registers_once(world, sent_messages):
    import optuna

    from registry.models import ModelVersion, Run
    from training.services.search import search_storage

    tenant, version = world
    # given a job searching 4 trials with 2 parts
    spec = {"target": "label", "trials": 4, "folds": 2, "seed": 1}
    job = submit(tenant, "maint", version, spec=spec, parallelism=2)
    # when part 0 runs: it sends part 1 and draws trials from the shared study
    assert execute(tenant, job.pk, part=0) == "part_done"
    assert (job.pk, 1) in sent_messages.job_parts()
    middle = reload(tenant, job.pk)
    assert middle.state == JobState.RUNNING
    assert middle.parts_finished == [0]
    assert middle.study_name == f"{tenant.schema_name}:trainingjob:{job.pk}"
    # and then part 1, which finds the budget spent and is the last to finish
    assert execute(tenant, job.pk, part=1) == "succeeded"
    # then exactly one version, from one parent run with 4 trials in all
    job = reload(tenant, job.pk)
    assert job.state == JobState.SUCCEEDED
    assert job.parts_finished == [0, 1]
    with schema_context(tenant.schema_name):
        assert list(ModelVersion.objects.values_list("pk", flat=True)) == [job.model_version_id]
        children = Run.objects.filter(parent_run_id=job.parent_run_id)
        assert sorted(children.values_list("name", flat=True)) == [f"trial-{n}" for n in range(4)]
    # and the study is gone from the shared storage
    names = [s.study_name for s in optuna.get_all_study_summaries(search_storage())]
    assert middle.study_name not in names
