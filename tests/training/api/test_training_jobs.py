"""POST/GET /t/<slug>/api/v1/training-jobs/, .../cancel/, .../retry/."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from tests.conftest import user_in
from tests.training.conftest import FAST_SPEC, make_dataset_version
from training.models import JobState, TrainingJob

URL = "api/v1/training-jobs/"


@pytest.fixture()
def version(alpha):
    return make_dataset_version(alpha, "alice")


def _body(version, **overrides):
    return {
        "dataset_version": version.pk,
        "recipe": "classification",
        "spec": dict(FAST_SPEC),
        "registered_model_name": "song-mood",
        **overrides,
    }


def _jobs(tenant) -> list[TrainingJob]:
    with schema_context(tenant.schema_name):
        return list(TrainingJob.objects.order_by("pk"))


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# --- submit --------------------------------------------------------------------------------


def test_a_maintainer_submits_a_job_which_is_queued_and_sent_after_commit(
    alpha, api_as, version, sent_messages, django_capture_on_commit_callbacks
):
    # when mia (maintainer) submits a job
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(alpha, "mia").post(URL, _body(version, parallelism=2))
    # then it is queued, with the version's sensitive attribute kept out of the features
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "queued"
    assert body["parallelism"] == 2
    assert body["attempt"] == 1
    assert body["spec"]["sensitive_attributes"] == ["region"]
    assert body["dataset_version"] == {
        "id": version.pk, "dataset": version.dataset_id, "dataset_name": "songs", "version": 1,
    }
    assert body["created_by"] == "mia"
    assert body["links"]["model_version"] is None
    assert body["log_tail"][0].endswith("submitted by mia (classification)")
    # and its message went to the training queue, once, with the task id it records
    ((name, args, options),) = sent_messages.sent
    assert (name, args) == ("training.tasks.run_training_job", (body["id"], 0))
    assert options["queue"] == "training"
    assert options["task_id"] == body["worker"]["celery_task_id"]
    with schema_context(alpha.schema_name):
        event = AuditEvent.objects.get(action="trainingjob.submit")
        assert event.actor_username == "mia"
        assert event.object_id == str(body["id"])


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"recipe": "deep_learning"}, 400, "unknown_recipe"),
        ({"spec": {"target": "label", "trials": 0}}, 400, "invalid_spec"),
        ({"spec": {"target": "label", "colour": 1}}, 400, "invalid_spec"),
        ({"spec": {"target": "label", "features": ["loudness"]}}, 400, "unknown_column"),
        ({"spec": {"target": "mood"}}, 400, "unknown_column"),
        ({"spec": ["label"]}, 400, "validation_error"),
        ({"dataset_version": 999_999}, 400, "dataset_version_not_found"),
        ({"parallelism": 9}, 400, "validation_error"),
        ({"parallelism": 0}, 400, "validation_error"),
        ({"registered_model_name": "  "}, 400, "validation_error"),
        ({"state": "succeeded"}, 400, "validation_error"),
        ({"model_version": 1}, 400, "validation_error"),
    ],
)
def test_bad_submissions_get_a_stable_code_and_create_nothing(
    alpha, api_as, version, sent_messages, overrides, status, code
):
    response = api_as(alpha, "mia").post(URL, _body(version, **overrides))
    assert _error(response) == (status, code), response.json()
    assert _jobs(alpha) == []
    assert sent_messages.sent == []


def test_a_recipe_that_needs_a_target_says_so(alpha, api_as):
    version = make_dataset_version(alpha, "alice", name="unlabelled", declare=False)
    spec = {"trials": 1}
    response = api_as(alpha, "mia").post(URL, _body(version, spec=spec))
    assert _error(response) == (400, "missing_target")
    assert response.json()["error"]["details"] == {"field": "target"}
    # clustering needs none
    response = api_as(alpha, "mia").post(URL, _body(version, recipe="clustering", spec=spec))
    assert response.status_code == 201


def test_results_cannot_go_to_a_model_the_submitter_may_not_change(alpha, api_as, version):
    from registry.services.models import registered_model_create

    with schema_context(alpha.schema_name):
        registered_model_create(acting_user=user_in(alpha, "alice"), name="alices-model")
    response = api_as(alpha, "mia").post(URL, _body(version, registered_model_name="alices-model"))
    assert _error(response) == (403, "permission_denied")
    # the owner may (role permission)
    body = _body(version, registered_model_name="alices-model")
    response = api_as(alpha, "alice").post(URL, body)
    assert response.status_code == 201


# --- who may do what -------------------------------------------------------------------------


@pytest.fixture()
def job(alpha, api_as, version):
    response = api_as(alpha, "mia").post(URL, _body(version))
    assert response.status_code == 201
    return response.json()


@pytest.mark.parametrize("username", ["alice", "mia", "rita", "audrey", "victor"])
def test_every_role_reads_jobs(alpha, api_as, job, username):
    caller = api_as(alpha, username, scope="read")
    listed = caller.get(URL)
    assert listed.status_code == 200
    assert [j["id"] for j in listed.json()["results"]] == [job["id"]]
    assert caller.get(f"{URL}{job['id']}/").status_code == 200


@pytest.mark.parametrize("username", ["rita", "audrey", "victor", "bob"])
def test_roles_without_the_right_cannot_submit_cancel_or_retry(
    alpha, api_as, version, job, username
):
    caller = api_as(alpha, username)
    assert _error(caller.post(URL, _body(version))) == (403, "permission_denied")
    assert _error(caller.post(f"{URL}{job['id']}/cancel/")) == (403, "permission_denied")
    assert _error(caller.post(f"{URL}{job['id']}/retry/")) == (403, "permission_denied")
    assert len(_jobs(alpha)) == 1
    assert _jobs(alpha)[0].state == JobState.QUEUED


def test_bob_without_a_role_reads_nothing(alpha, api_as, job):
    bob = api_as(alpha, "bob")
    assert _error(bob.get(URL)) == (403, "permission_denied")
    assert _error(bob.get(f"{URL}{job['id']}/")) == (403, "permission_denied")


def test_a_read_token_cannot_write_and_anonymous_callers_are_refused(alpha, api_as, version, job):
    read = api_as(alpha, "alice", scope="read")
    assert _error(read.post(URL, _body(version))) == (403, "insufficient_scope")
    assert _error(read.post(f"{URL}{job['id']}/cancel/")) == (403, "insufficient_scope")
    assert _error(read.post(f"{URL}{job['id']}/retry/")) == (403, "insufficient_scope")
    anonymous = api_as(alpha, None)
    assert anonymous.get(URL).status_code == 401
    assert anonymous.post(URL, _body(version)).status_code == 401


def test_another_tenant_never_sees_a_job(alpha, beta, api_as, job):
    # carol's beta token under /t/alpha/ is unknown there
    assert api_as(alpha, "carol", token_tenant=beta).get(URL).status_code == 401
    # and alpha's job id under /t/beta/ is not there
    carol = api_as(beta, "carol")
    assert carol.get(URL).json()["results"] == []
    assert _error(carol.get(f"{URL}{job['id']}/")) == (404, "not_found")
    assert _error(carol.post(f"{URL}{job['id']}/cancel/")) == (404, "not_found")
    assert _jobs(alpha)[0].state == JobState.QUEUED


# --- list and retrieve -----------------------------------------------------------------------


def _bulk_jobs(tenant, version, count: int) -> None:
    with schema_context(tenant.schema_name):
        mia = user_in(tenant, "mia")
        TrainingJob.objects.bulk_create(
            TrainingJob(
                dataset_version=version, recipe="classification" if i % 2 else "regression",
                registered_model_name="m", spec={"target": "label"}, created_by=mia,
                state=JobState.SUCCEEDED if i % 3 else JobState.QUEUED, log="x" * 1000,
            )
            for i in range(count)
        )


def test_the_list_filters_by_state_and_recipe(alpha, api_as, version):
    _bulk_jobs(alpha, version, 12)
    caller = api_as(alpha, "victor")
    queued = caller.get(URL, data={"state": "queued"}).json()
    assert queued["count"] == 4
    assert {j["state"] for j in queued["results"]} == {"queued"}
    both = caller.get(URL, data={"state": "succeeded", "recipe": "regression"}).json()
    assert both["count"] == 4
    assert _error(caller.get(URL, data={"state": "exploded"})) == (400, "validation_error")
    assert _error(caller.get(URL, data={"recipe": "magic"})) == (400, "validation_error")


def test_the_list_costs_the_same_queries_for_10_and_1000_jobs(alpha, api_as, version):
    caller = api_as(alpha, "victor")
    counts = []
    for total in (10, 1000):
        _bulk_jobs(alpha, version, total - len(_jobs(alpha)))
        caller.get(URL)  # warm (token last-use bookkeeping)
        with CaptureQueriesContext(connection) as queries:
            response = caller.get(URL, data={"page_size": 500})
        assert response.status_code == 200
        assert response.json()["count"] == total
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_retrieve_shows_progress_resources_links_and_the_log_tail(alpha, api_as, job):
    body = api_as(alpha, "victor").get(f"{URL}{job['id']}/").json()
    assert body["progress"] == {"percent": 0, "stage": "", "trials_logged": 0}
    assert body["resources"] == {"cpu_seconds": 0.0, "peak_memory_bytes": 0, "wall_seconds": None}
    assert body["links"] == {"experiment": None, "parent_run": None, "model_version": None}
    assert body["worker"]["deliveries"] == 0
    assert body["failure"] is None
    assert len(body["log_tail"]) == 1
    assert body["metrics"] == {}


def test_an_unknown_or_malformed_id_is_404(alpha, api_as):
    caller = api_as(alpha, "alice")
    assert _error(caller.get(f"{URL}999999/")) == (404, "not_found")
    assert caller.get(f"{URL}abc/").status_code == 404


# --- cancel and retry ------------------------------------------------------------------------


def test_cancelling_a_queued_job_ends_it_and_a_second_cancel_is_a_conflict(alpha, api_as, job):
    caller = api_as(alpha, "mia")
    response = caller.post(f"{URL}{job['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    assert _error(caller.post(f"{URL}{job['id']}/cancel/")) == (409, "job_finished")


def test_cancelling_a_running_job_asks_its_worker_to_stop(alpha, api_as, job):
    with schema_context(alpha.schema_name):
        TrainingJob.objects.filter(pk=job["id"]).update(state=JobState.RUNNING)
    body = api_as(alpha, "alice").post(f"{URL}{job['id']}/cancel/").json()
    assert body["state"] == "running"
    assert body["cancel_requested"] is True
    assert "cancellation requested by alice" in body["log_tail"][-1]


def test_retrying_a_failed_job_submits_a_new_attempt_once(
    alpha, api_as, job, sent_messages, django_capture_on_commit_callbacks
):
    with schema_context(alpha.schema_name):
        TrainingJob.objects.filter(pk=job["id"]).update(
            state=JobState.FAILED, failure_code="worker_died", failure_reason="worker died 3 times"
        )
    caller = api_as(alpha, "mia")
    with django_capture_on_commit_callbacks(execute=True):
        response = caller.post(f"{URL}{job['id']}/retry/")
    assert response.status_code == 201
    retry = response.json()
    assert retry["id"] != job["id"]
    assert retry["state"] == "queued"
    assert (retry["attempt"], retry["retry_of"]) == (2, job["id"])
    assert retry["spec"] == job["spec"]
    assert sent_messages.job_parts() == [(retry["id"], 0)]
    # the failed job stays as it ended; retrying it again points at the retry
    assert _error(caller.post(f"{URL}{job['id']}/retry/")) == (409, "already_retried")
    assert _jobs(alpha)[0].state == JobState.FAILED


@pytest.mark.parametrize("state", ["queued", "running", "succeeded"])
def test_only_failed_or_cancelled_jobs_are_retried(alpha, api_as, job, state):
    with schema_context(alpha.schema_name):
        TrainingJob.objects.filter(pk=job["id"]).update(state=state)
    response = api_as(alpha, "mia").post(f"{URL}{job['id']}/retry/")
    assert _error(response) == (409, "job_not_retryable")
    assert len(_jobs(alpha)) == 1
