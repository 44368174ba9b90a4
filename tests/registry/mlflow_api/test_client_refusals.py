"""Refusals the real mlflow client meets, each in MLflow's error shape with the status the
client expects: a token of another tenant, a read-only token that logs, no token, a
member without rights, a protected promotion without evidence (the checks named), and
artifact path traversal in every encoding MLflow's own server once let through."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest
import requests

from tests.registry.mlflow_api.gates import FAILING_CHECKS

pytestmark = pytest.mark.timeout(180)


def _shape(reply) -> dict:
    body = reply.json()
    assert set(body) == {"error_code", "message"}, body
    return body


@pytest.fixture()
def maint_run(live_mlflow, mlflow_as):
    """An experiment and a run of `maint` in tenant A, with one file."""
    client = mlflow_as(live_mlflow.tenant_a, "a_maint")
    experiment_id = client.create_experiment(f"refusals-{id(client)}")
    run = client.create_run(experiment_id)
    return client, experiment_id, run.info.run_id


def test_a_token_of_another_tenant_is_unknown_here(live_mlflow, mlflow_as, maint_run):
    from mlflow.exceptions import MlflowException

    # given tenant B's owner token pointed at tenant A's MLflow URL
    _, experiment_id, run_id = maint_run
    client = mlflow_as(live_mlflow.tenant_a, "b_owner")
    # when it reads or logs / then UNAUTHENTICATED: the token does not exist in A
    with pytest.raises(MlflowException) as refused:
        client.get_run(run_id)
    assert refused.value.error_code == "UNAUTHENTICATED"
    with pytest.raises(MlflowException) as refused:
        client.log_metric(run_id, "leak", 1.0)
    assert refused.value.error_code == "UNAUTHENTICATED"
    reply = requests.get(
        live_mlflow.api(live_mlflow.tenant_a, "api/2.0/mlflow/experiments/get"),
        params={"experiment_id": experiment_id},
        headers={"Authorization": f"Bearer {live_mlflow.tokens['b_owner']}"}, timeout=30,
    )
    assert reply.status_code == 401
    assert _shape(reply)["error_code"] == "UNAUTHENTICATED"
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_read_only_token_cannot_log(live_mlflow, mlflow_as, maint_run):
    from mlflow.exceptions import MlflowException

    _, _, run_id = maint_run
    client = mlflow_as(live_mlflow.tenant_a, "a_maint_read")
    # the read token reads
    assert client.get_run(run_id).info.run_id == run_id
    # but every write is PERMISSION_DENIED (403), before the run is even looked at
    for write in (
        lambda: client.log_metric(run_id, "m", 1.0),
        lambda: client.log_param(run_id, "p", "1"),
        lambda: client.set_tag(run_id, "t", "1"),
        lambda: client.create_experiment("read-token-experiment"),
    ):
        with pytest.raises(MlflowException) as refused:
            write()
        assert refused.value.error_code == "PERMISSION_DENIED"
    # while MLflow's POST searches are reads, and allowed
    assert client.search_runs([maint_run[1]])[0].info.run_id == run_id


def test_no_token_is_unauthenticated(live_mlflow, mlflow_as):
    from mlflow.exceptions import MlflowException

    client = mlflow_as(live_mlflow.tenant_a, None)
    with pytest.raises(MlflowException) as refused:
        client.search_experiments()
    assert refused.value.error_code == "UNAUTHENTICATED"
    reply = requests.post(live_mlflow.api(live_mlflow.tenant_a, "api/2.0/mlflow/runs/log-metric"),
                          json={}, timeout=30)
    assert reply.status_code == 401
    assert _shape(reply)["error_code"] == "UNAUTHENTICATED"


def test_a_member_without_rights_sees_nothing_and_changes_nothing(live_mlflow, mlflow_as,
                                                                 maint_run):
    from mlflow.exceptions import MlflowException

    _, experiment_id, run_id = maint_run
    # a viewer sees the run (the role views everything) but may not write to it
    viewer = mlflow_as(live_mlflow.tenant_a, "a_view")
    assert viewer.get_run(run_id).info.run_id == run_id
    with pytest.raises(MlflowException) as refused:
        viewer.log_metric(run_id, "m", 1.0)
    assert refused.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException) as refused:
        viewer.create_registered_model("not-yours")
    assert refused.value.error_code == "PERMISSION_DENIED"


def test_a_protected_promotion_without_evidence_is_refused_with_its_checks(
    live_mlflow, mlflow_as, maint_run
):
    from mlflow.exceptions import MlflowException

    # given a registered version of a model logged by the client
    client, _, run_id = maint_run
    import mlflow

    source = _log_tiny_model(mlflow, run_id)
    client.create_registered_model("gated")
    version = client.create_model_version("gated", source, run_id=run_id)
    assert version.status == "READY"
    # when the client promotes it to Production or sets the protected alias
    for promote in (
        lambda: client.transition_model_version_stage("gated", version.version, "Production"),
        lambda: client.set_registered_model_alias("gated", "champion", version.version),
    ):
        with pytest.raises(MlflowException) as refused:
            promote()
        # then PERMISSION_DENIED, with the failing checks in the message
        assert refused.value.error_code == "PERMISSION_DENIED"
        for check in FAILING_CHECKS:
            assert check in refused.value.message
    assert client.get_model_version("gated", version.version).current_stage == "None"
    # an unprotected stage change still passes through the same service
    moved = client.transition_model_version_stage("gated", version.version, "Archived")
    assert moved.current_stage == "Archived"


def _log_tiny_model(mlflow, run_id: str) -> str:
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(model, name="tiny", pip_requirements=["scikit-learn"])
    return f"models:/{info.model_id}"


TRAVERSALS = [
    "{run}/artifacts/../../../../etc/passwd",
    "{run}/artifacts/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "{run}/artifacts/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "{run}/artifacts/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "{run}/artifacts/..%5c..%5c..%5cwindows%5cwin.ini",
    "{run}/artifacts/x;/../../../etc/passwd",
    "{run}/artifacts/x%23/../../../etc/passwd",
    "{run}/artifacts/x%3f/../../../etc/passwd",
    "{run}/artifacts/file:/etc/passwd",
    "{run}/artifacts/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "{run}/artifacts/%EF%BC%8E%EF%BC%8E%EF%BC%8F%EF%BC%8E%EF%BC%8E%EF%BC%8Fetc",
    "{run}/artifacts/../../{other}/artifacts/secret.txt",
]


def _raw(live, method: str, path: str, token: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send the path exactly as written (no client-side normalisation)."""
    parts = urlsplit(live.base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body or None,
                           headers={"Authorization": f"Bearer {token}"})
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def test_artifact_traversal_is_refused(live_mlflow, mlflow_as, maint_run):
    import json

    client, experiment_id, run_id = maint_run
    other = client.create_run(experiment_id).info.run_id
    token = live_mlflow.tokens["a_maint"]
    base = f"/t/{live_mlflow.tenant_a.slug}/mlflow/api/2.0/mlflow-artifacts/artifacts/runs/"
    for template in TRAVERSALS:
        path = base + template.format(run=run_id, other=other)
        for method, body in (("GET", b""), ("PUT", b"owned"), ("DELETE", b"")):
            # when a traversal is sent as written / then it is refused, never served
            status, payload = _raw(live_mlflow, method, path, token, body)
            assert 400 <= status < 500, (template, method, status, payload[:200])
            assert set(json.loads(payload)) == {"error_code", "message"}, payload
        listing = requests.get(
            live_mlflow.api(live_mlflow.tenant_a, "api/2.0/mlflow-artifacts/artifacts"),
            params={"path": "runs/" + template.format(run=run_id, other=other)},
            headers={"Authorization": f"Bearer {token}"}, timeout=30,
        )
        assert listing.status_code == 400, (template, listing.text)
        assert _shape(listing)["error_code"] == "INVALID_PARAMETER_VALUE"
    # an absolute-looking name ("//proc/...") is only a name inside the run's own files
    status, _ = _raw(live_mlflow, "PUT", base + f"{run_id}/artifacts//proc/self/environ", token,
                     b"mine")
    assert status == 200
    assert [f.path for f in client.list_artifacts(run_id)] == ["proc"]
    assert client.list_artifacts(other) == []
    # and the client itself, given such a path, never reaches another run's files
    from mlflow.exceptions import MlflowException

    with pytest.raises((MlflowException, requests.HTTPError)):
        client.download_artifacts(run_id, "../../" + other)
