"""Each quota of the plan, exceeded at submission: 403 quota_exceeded naming the quota, its
limit and what is used; nothing is created, nothing is sent, nothing is audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from tenants.models import Plan, UsageRecord
from tests.training.conftest import FAST_SPEC, make_dataset_version
from training.models import JobState, TrainingJob

URL = "api/v1/training-jobs/"


@pytest.fixture()
def version(alpha):
    return make_dataset_version(alpha, "alice")


def _plan(tenant, **limits) -> Plan:
    plan = Plan.objects.create(name=f"tight-{tenant.slug}", **limits)
    tenant.plan = plan
    tenant.save(update_fields=["plan"])
    return plan


def _submit(api_as, tenant, version):
    body = {
        "dataset_version": version.pk,
        "recipe": "classification",
        "spec": dict(FAST_SPEC),
        "registered_model_name": "song-mood",
    }
    return api_as(tenant, "mia").post(URL, body)


def _queued_job(tenant, version, state=JobState.QUEUED, cpu_seconds=0.0) -> None:
    with schema_context(tenant.schema_name):
        TrainingJob.objects.create(
            dataset_version=version, recipe="classification", registered_model_name="m",
            spec={}, state=state, cpu_seconds=cpu_seconds,
        )


def _nothing_created(tenant, jobs_before: int, sent) -> None:
    with schema_context(tenant.schema_name):
        assert TrainingJob.objects.count() == jobs_before
        assert not AuditEvent.objects.filter(action="trainingjob.submit").exists()
    assert sent.sent == []


def _assert_quota(response, quota: str, limit: int, used) -> None:
    assert response.status_code == 403, response.json()
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"] == {"quota": quota, "limit": limit, "used": used}
    assert quota.split("_")[0] in error["message"].lower() or "jobs" in error["message"]


def test_concurrent_jobs(alpha, api_as, version, sent_messages, django_capture_on_commit_callbacks):
    _plan(alpha, max_concurrent_jobs=2)
    _queued_job(alpha, version)
    _queued_job(alpha, version, state=JobState.RUNNING)
    _queued_job(alpha, version, state=JobState.SUCCEEDED)  # finished jobs do not count
    with django_capture_on_commit_callbacks(execute=True):
        response = _submit(api_as, alpha, version)
    _assert_quota(response, "concurrent_jobs", 2, 2)
    _nothing_created(alpha, 3, sent_messages)


def test_cpu_seconds_per_month(
    alpha, api_as, version, sent_messages, django_capture_on_commit_callbacks
):
    _plan(alpha, cpu_seconds_per_month=100)
    # 90 s booked this month, 10.5 s used by a job still running
    UsageRecord.objects.create(tenant=alpha, kind="cpu_seconds", quantity=Decimal("90"))
    _queued_job(alpha, version, state=JobState.RUNNING, cpu_seconds=10.5)
    with django_capture_on_commit_callbacks(execute=True):
        response = _submit(api_as, alpha, version)
    _assert_quota(response, "cpu_seconds_per_month", 100, 100.5)
    _nothing_created(alpha, 1, sent_messages)


def test_artifact_storage_bytes(alpha, api_as, version, sent_messages):
    _plan(alpha, artifact_storage_bytes=100)
    stored = version.artifact.size_bytes  # the dataset file alone passes 100 bytes
    response = _submit(api_as, alpha, version)
    _assert_quota(response, "artifact_storage_bytes", 100, stored)
    _nothing_created(alpha, 0, sent_messages)


def test_model_versions(alpha, api_as, version, sent_messages):
    from registry.services.models import registered_model_create
    from registry.services.versions import model_version_register_upload
    from tests.conftest import user_in

    _plan(alpha, max_model_versions=1)
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        model = registered_model_create(acting_user=alice, name="existing")
        model_version_register_upload(
            acting_user=alice, model=model, source=[b"not a model"], model_format="pickle"
        )
    response = _submit(api_as, alpha, version)
    _assert_quota(response, "model_versions", 1, 1)
    _nothing_created(alpha, 0, sent_messages)


def test_retry_is_a_submission_and_meets_the_same_quotas(alpha, api_as, version, sent_messages):
    _plan(alpha, max_concurrent_jobs=1)
    _queued_job(alpha, version, state=JobState.FAILED)
    _queued_job(alpha, version, state=JobState.RUNNING)
    with schema_context(alpha.schema_name):
        failed = TrainingJob.objects.get(state=JobState.FAILED)
    response = api_as(alpha, "mia").post(f"{URL}{failed.pk}/retry/")
    _assert_quota(response, "concurrent_jobs", 1, 1)
    _nothing_created(alpha, 2, sent_messages)


def test_within_every_quota_the_job_is_accepted(alpha, api_as, version, sent_messages):
    _plan(alpha, max_concurrent_jobs=1, cpu_seconds_per_month=1, max_model_versions=1,
          artifact_storage_bytes=10**9)
    assert _submit(api_as, alpha, version).status_code == 201
