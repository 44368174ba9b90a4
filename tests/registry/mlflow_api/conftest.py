"""A live mlgov (a real gunicorn on the test database) for the real mlflow client.

One server and two committed tenants per test session, shared by every client test:
- tenant A: `owner` (owner), `maint` (maintainer), `rev` (reviewer), `view` (viewer);
- tenant B: `owner`.
The server runs with tests.registry.mlflow_api.server_settings, which adds a governance
gate refusing protected promotions (gates.py). Client calls are not retried
(MLFLOW_HTTP_REQUEST_MAX_RETRIES=0) and telemetry is off: nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.db import connection
from django_tenants.utils import schema_context

from tests.conftest import _create_tenant_with_personas, user_in
from tests.worker_process import PROJECT_ROOT, worker_environment

READY_TIMEOUT = 60.0

CLIENT_ENVIRONMENT = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}


@dataclass
class LiveMlflow:
    base: str  # http://127.0.0.1:<port>
    tenant_a: object
    tenant_b: object
    tokens: dict[str, str]  # name -> plaintext

    def uri(self, tenant) -> str:
        return f"{self.base}/t/{tenant.slug}/mlflow"

    def api(self, tenant, path: str) -> str:
        return f"{self.uri(tenant)}/{path.lstrip('/')}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _token(tenant, username: str, scope: str) -> str:
    from mlgov.identity.services import token_issue

    with schema_context(tenant.schema_name):
        user = user_in(tenant, username)
        return token_issue(acting_user=None, user=user, name=f"mlflow-{scope}", scope=scope
                           ).plaintext


def _wait_ready(process: subprocess.Popen, url: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            reply = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
            if reply.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not become ready:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def live_mlflow(django_db_setup, django_db_blocker):
    """The live server and its tenants' tokens (committed data)."""
    with django_db_blocker.unblock():
        suffix = f"{os.getpid()}"
        tenant_a = _create_tenant_with_personas(
            f"mla{suffix}", "owner", {"maint": "maintainer", "rev": "reviewer", "view": "viewer"}
        )
        tenant_b = _create_tenant_with_personas(f"mlb{suffix}", "owner", {})
        tokens = {
            "a_owner": _token(tenant_a, "owner", "admin"),
            "a_maint": _token(tenant_a, "maint", "write"),
            "a_maint_read": _token(tenant_a, "maint", "read"),
            "a_view": _token(tenant_a, "view", "write"),
            "b_owner": _token(tenant_b, "owner", "admin"),
        }
        connection.set_schema_to_public()
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="mlgov-mlflow-"))
    log = workdir / "gunicorn.log"
    env = worker_environment(
        {"DJANGO_SETTINGS_MODULE": "tests.registry.mlflow_api.server_settings",
         "LOG_LEVEL": "WARNING", "DEBUG": "false"}
    )
    command = [
        sys.executable, "-m", "gunicorn", "mlgov.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread",
        "--threads", "4", "--timeout", "120", "--log-level", "warning",
    ]
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    live = LiveMlflow(f"http://127.0.0.1:{port}", tenant_a, tenant_b, tokens)
    try:
        _wait_ready(process, live.api(tenant_a, "api/3.0/mlflow/server-info"),
                    tokens["a_owner"], log)
        yield live
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture()
def mlflow_as(live_mlflow, monkeypatch):
    """`mlflow_as(tenant, token_name)`: points the mlflow client at the tenant's MLflow URL
    with that token (MLFLOW_TRACKING_URI / MLFLOW_TRACKING_TOKEN), and returns a client."""
    import mlflow

    for name, value in CLIENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    # the fluent API's active experiment is process-wide: each test starts without one
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)

    def use(tenant, token_name: str | None, *, basic: bool = False):
        uri = live_mlflow.uri(tenant)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
                     "MLFLOW_TRACKING_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        if token_name is not None and basic:  # user name and the token as password
            monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", token_name.split("_")[1])
            monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", live_mlflow.tokens[token_name])
        elif token_name is not None:
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", live_mlflow.tokens[token_name])
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)

    yield use
    if mlflow.active_run() is not None:
        mlflow.end_run()


# --- in-process calls (Django's test client, rolled-back data) ---------------------------


@dataclass
class MlflowCalls:
    """Calls to /t/<slug>/mlflow/... in the test's own transaction. `endpoint` is under
    api/2.0/mlflow/ unless it starts with "api/" or "/"."""

    api: object  # tests.conftest.TenantApi

    def _url(self, endpoint: str) -> str:
        if endpoint.startswith("api/"):
            return f"mlflow/{endpoint}"
        return f"mlflow/api/2.0/mlflow/{endpoint}"

    def get(self, endpoint: str, **params):
        from urllib.parse import urlencode

        query = urlencode(params, doseq=True)
        return self.api.get(self._url(endpoint) + (f"?{query}" if query else ""))

    def send(self, method: str, endpoint: str, body=None, content_type="application/json"):
        import json

        data = body if isinstance(body, bytes) else json.dumps(body or {})
        headers = {}
        if self.api.authorization:
            headers["HTTP_AUTHORIZATION"] = self.api.authorization
        return self.api.client.generic(
            method, self.api.url(self._url(endpoint)), data=data, content_type=content_type,
            **headers,
        )

    def post(self, endpoint: str, body=None):
        return self.send("POST", endpoint, body)

    def patch(self, endpoint: str, body=None):
        return self.send("PATCH", endpoint, body)

    def delete(self, endpoint: str, body=None):
        return self.send("DELETE", endpoint, body)


@pytest.fixture()
def mlf(api_as):
    """`mlf(tenant, "alice", scope="admin")`: in-process MLflow calls with a fresh token."""

    def make(tenant, username, scope="admin", **kwargs):
        return MlflowCalls(api_as(tenant, username, scope, **kwargs))

    return make


def error_of(response) -> str:
    """The MLflow error code of a response, asserting MLflow's error shape."""
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    return body["error_code"]
