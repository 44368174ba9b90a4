"""A run's files: upload, list, download, delete; permissions; the traversal corpus against
every artifact path parameter, with nothing outside the artifact root touched."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from guardian.shortcuts import assign_perm

from mlgov.audit.models import AuditEvent
from registry.models import Artifact, RunArtifact
from registry.services.experiments import experiment_create
from registry.services.runs import run_create
from tests.conftest import user_in


@pytest.fixture()
def artifact_root(settings, tmp_path):
    """A private artifact root with a canary file beside it."""
    root = tmp_path / "artifacts"
    root.mkdir()
    settings.ARTIFACT_ROOT = root
    (tmp_path / "canary.txt").write_bytes(b"canary: must never change")
    return root


@pytest.fixture()
def run(alpha, artifact_root):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        experiment = experiment_create(acting_user=alice, name="exp")
        return run_create(acting_user=alice, experiment=experiment)


def _file_url(run, name: str) -> str:
    return f"api/v1/runs/{run.pk}/artifacts/{name}"


def _put(caller, run, name: str, body: bytes, query: str = "", **extra):
    if caller.authorization:
        extra["HTTP_AUTHORIZATION"] = caller.authorization
    return caller.client.generic(
        "PUT", caller.url(_file_url(run, name)) + query, data=body,
        content_type="application/octet-stream", **extra,
    )


def _read(response) -> bytes:
    return b"".join(response.streaming_content)


def _code(response) -> str:
    return response.json()["error"]["code"]


# --- the round trip ------------------------------------------------------------------------


def test_upload_list_download_overwrite_and_delete(alpha, api_as, run):
    alice = api_as(alpha, "alice", scope="write")
    payload = os.urandom(3 * 1024 * 1024 + 5)  # more than one read chunk and segment
    created = _put(alice, run, "model/weights.bin", payload)
    assert created.status_code == 201, created.content
    assert created.json()["sha256"] == hashlib.sha256(payload).hexdigest()
    _put(alice, run, "model/conf/params.json", b"{}")
    _put(alice, run, "notes%20and%20more.txt", b"hello")
    # listing shows direct children only: folders first, then files with size and digest
    top = alice.get(f"api/v1/runs/{run.pk}/artifacts/").json()["results"]
    assert [(e["name"], e["is_dir"]) for e in top] == [
        ("model", True), ("notes and more.txt", False)
    ]
    nested = alice.get(f"api/v1/runs/{run.pk}/artifacts/?path=model").json()["results"]
    assert [(e["path"], e["size_bytes"]) for e in nested] == [
        ("model/conf", None), ("model/weights.bin", len(payload))
    ]
    # the download streams the exact bytes and is audited
    download = alice.get(_file_url(run, "model/weights.bin"))
    assert download.status_code == 200
    assert _read(download) == payload
    assert download["X-Content-SHA256"] == hashlib.sha256(payload).hexdigest()
    with schema_context(alpha.schema_name):
        event = AuditEvent.objects.get(action="run.artifact_download")
        assert event.after["path"] == "model/weights.bin"
    # an existing name is replaced only with ?overwrite=true
    exists = _put(alice, run, "notes%20and%20more.txt", b"new")
    assert exists.status_code == 409
    assert _code(exists) == "artifact_exists"
    assert _put(alice, run, "notes%20and%20more.txt", b"new", "?overwrite=true").status_code == 201
    assert _read(alice.get(_file_url(run, "notes%20and%20more.txt"))) == b"new"
    # a file cannot also be a folder
    clash = _put(alice, run, "model", b"x")
    assert clash.status_code == 409
    assert _code(clash) == "artifact_path_conflict"
    clash = _put(alice, run, "model/weights.bin/inner", b"x")
    assert clash.status_code == 409
    assert _code(clash) == "artifact_path_conflict"
    # delete removes the row, the Artifact and (after commit) its file
    assert alice.delete(_file_url(run, "model/weights.bin")).status_code == 204
    assert alice.get(_file_url(run, "model/weights.bin")).status_code == 404
    gone = alice.delete(_file_url(run, "model/weights.bin"))
    assert gone.status_code == 404
    assert _code(gone) == "artifact_not_found"
    with schema_context(alpha.schema_name):
        assert RunArtifact.objects.filter(run=run).count() == 2
        assert Artifact.objects.filter(kind="run_file").count() == 2


def test_upload_without_content_length_is_411(alpha, api_as, run):
    alice = api_as(alpha, "alice")
    response = _put(alice, run, "a.txt", b"abc", CONTENT_LENGTH="")
    assert response.status_code == 411
    assert _code(response) == "length_required"


def test_raw_request_target_must_agree_with_the_decoded_path(alpha, api_as, run):
    alice = api_as(alpha, "alice")
    base = f"/t/alpha/api/v1/runs/{run.pk}/artifacts/"
    # as gunicorn passes it (RAW_URI): an honest target agrees and is accepted
    honest = _put(alice, run, "d%C3%A9j%C3%A0%20vu.txt", b"x",
                  RAW_URI=f"{base}d%C3%A9j%C3%A0%20vu.txt")
    assert honest.status_code == 201, honest.content
    assert honest.json()["path"] == "déjà vu.txt"
    # a target that names another file than the decoded path (a rewriting proxy) is refused
    for raw in (f"{base}..%2fok.txt", f"{base}%252e%252e%252fok.txt", "/elsewhere/ok.txt"):
        refused = _put(alice, run, "ok.txt", b"x", REQUEST_URI=raw)
        assert (refused.status_code, _code(refused)) == (400, "unsafe_artifact_path"), raw


# --- permissions and tenancy ---------------------------------------------------------------


def test_download_needs_the_download_permission(alpha, api_as, run):
    alice = api_as(alpha, "alice")
    assert _put(alice, run, "f.txt", b"secret").status_code == 201
    for persona in ("mia", "victor", "rita", "audrey"):
        caller = api_as(alpha, persona)
        # they may list (view) but not download, write or delete
        assert caller.get(f"api/v1/runs/{run.pk}/artifacts/").status_code == 200
        refused = caller.get(_file_url(run, "f.txt"))
        assert refused.status_code == 403
        assert _code(refused) == "permission_denied"
        assert _put(caller, run, "g.txt", b"x").status_code == 403
        assert caller.delete(_file_url(run, "f.txt")).status_code == 403
    with schema_context(alpha.schema_name):
        assign_perm("download_experiment", user_in(alpha, "mia"), run.experiment)
        assert not AuditEvent.objects.filter(action="run.artifact_download").exists()
    assert _read(api_as(alpha, "mia").get(_file_url(run, "f.txt"))) == b"secret"


def test_bob_anonymous_read_scope_and_other_tenants(alpha, beta, api_as, run):
    alice = api_as(alpha, "alice")
    assert _put(alice, run, "f.txt", b"secret").status_code == 201
    bob = api_as(alpha, "bob")
    reader = api_as(alpha, "alice", scope="read")
    anonymous = api_as(alpha, None)
    carol_in_alpha = api_as(beta, "carol", path_tenant=alpha)
    carol = api_as(beta, "carol")
    list_url = f"api/v1/runs/{run.pk}/artifacts/"
    for caller, expected in ((bob, 404), (anonymous, 401), (carol_in_alpha, 401), (carol, 404)):
        assert caller.get(list_url).status_code == expected
        assert caller.get(_file_url(run, "f.txt")).status_code == expected
        assert _put(caller, run, "g.txt", b"x").status_code == expected
        assert caller.delete(_file_url(run, "f.txt")).status_code == expected
    assert reader.get(list_url).status_code == 200
    assert _read(reader.get(_file_url(run, "f.txt"))) == b"secret"
    for response in (_put(reader, run, "g.txt", b"x"), reader.delete(_file_url(run, "f.txt"))):
        assert response.status_code == 403
        assert _code(response) == "insufficient_scope"
    with schema_context(alpha.schema_name):
        assert list(RunArtifact.objects.values_list("path", flat=True)) == ["f.txt"]


def test_list_query_count_does_not_grow(alpha, api_as, run):
    alice = api_as(alpha, "alice")

    def add(count, folder):
        with schema_context(alpha.schema_name):
            artifacts = Artifact.objects.bulk_create(
                [Artifact(kind="run_file", sha256="0" * 64, size_bytes=i, key_version=1)
                 for i in range(count)]
            )
            RunArtifact.objects.bulk_create(
                [RunArtifact(run=run, artifact=a,
                             path=f"{folder}/sub{i % 7}/f{i}" if i % 2 else f"{folder}-f{i}")
                 for i, a in enumerate(artifacts)]
            )

    def count_queries(path):
        alice.get(path)
        with CaptureQueriesContext(connection) as queries:
            assert alice.get(path).status_code == 200
        return len(queries)

    add(10, "a")
    small = count_queries(f"api/v1/runs/{run.pk}/artifacts/?page_size=500")
    add(1000, "b")
    assert count_queries(f"api/v1/runs/{run.pk}/artifacts/?page_size=500") == small


# --- the traversal corpus ------------------------------------------------------------------

# As they would appear in a URL (raw); `%23` is '#' (a raw '#' starts a fragment, which no
# HTTP client sends: the server would only ever see the part before it).
CORPUS = [
    "../",
    "../escape.txt",
    "..%2f",
    "..%2fescape.txt",
    "%2e%2e%2f",
    "%2e%2e%2fescape.txt",
    "%252e%252e%252f",
    "%252e%252e%252fescape.txt",
    "..%252fescape.txt",
    "..\\",
    "..\\escape.txt",
    "..%5c",
    "..%5cescape.txt",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "C:\\x",
    "C:%5cx",
    "file:///etc/passwd",
    "a%00b",
    "x;/../",
    "x%23/../",
    "x?../",
    "x%3F../",
    "//proc/self/environ",
    "a/./b",
    "a/%2e/b",
    "%EF%BC%8E%EF%BC%8E%EF%BC%8Fescape",  # fullwidth ../
    "%EF%BC%8E%EF%BC%8E/escape",  # fullwidth dots
    "a/%E2%80%A5/b",  # two-dot leader
    "a%E2%88%95..%E2%88%95b",  # division slash
    "%E2%80%AEtxt.exe",  # right-to-left override
    "%c0%ae%c0%ae/escape",  # overlong UTF-8 dots
    "x/C:evil",
    "a%0Ab",  # newline
]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture()
def guarded(tmp_path, artifact_root):
    """Snapshot of everything beside and inside the artifact root, and /etc/passwd."""
    before = _snapshot(tmp_path)
    passwd = Path("/etc/passwd").read_bytes()
    yield
    assert _snapshot(tmp_path) == before, "a file appeared or changed around the artifact root"
    assert (tmp_path / "canary.txt").read_bytes() == b"canary: must never change"
    assert Path("/etc/passwd").read_bytes() == passwd


@pytest.mark.parametrize("raw", CORPUS)
def test_traversal_corpus_is_refused_on_every_path_parameter(alpha, api_as, run, guarded, raw):
    alice = api_as(alpha, "alice")
    full = f"/t/alpha/api/v1/runs/{run.pk}/artifacts/{raw}"
    attempts = {
        "write": _put(alice, run, raw, b"PWNED"),
        "write, raw target": _put(alice, run, raw, b"PWNED", "?overwrite=true", RAW_URI=full),
        "read": alice.get(_file_url(run, raw)),
        "delete": alice.delete(_file_url(run, raw)),
        "list (raw query)": alice.get(f"api/v1/runs/{run.pk}/artifacts/?path={raw}"),
        "list (encoded)": alice.client.get(
            alice.url(f"api/v1/runs/{run.pk}/artifacts/"), {"path": raw},
            HTTP_AUTHORIZATION=alice.authorization,
        ),
        "list (encoded twice)": alice.get(
            f"api/v1/runs/{run.pk}/artifacts/?path={quote(quote(raw, safe=''), safe='')}"
        ),
    }
    for operation, response in attempts.items():
        assert response.status_code == 400, (operation, response.status_code)
        assert _code(response) == "unsafe_artifact_path", (operation, response.json())
    with schema_context(alpha.schema_name):
        assert not RunArtifact.objects.exists()
        assert not Artifact.objects.exists()


def test_a_file_a_model_version_was_registered_from_outlives_its_run_entry(alpha, api_as, run):
    from registry.artifact_store import artifact_read_bytes
    from registry.models import ModelVersion, RegisteredModel

    alice = api_as(alpha, "alice")
    assert _put(alice, run, "model.skops", b"model bytes").status_code == 201
    with schema_context(alpha.schema_name):
        shared = RunArtifact.objects.get(run=run).artifact
        model = RegisteredModel.objects.create(name="m")
        ModelVersion.objects.create(registered_model=model, version=1, run=run, artifact=shared)
    # when the run's file is deleted, then overwritten again
    assert alice.delete(_file_url(run, "model.skops")).status_code == 204
    assert _put(alice, run, "model.skops", b"other").status_code == 201
    # then the version's artifact (PROTECT) is intact and still decrypts
    with schema_context(alpha.schema_name):
        assert artifact_read_bytes(Artifact.objects.get(pk=shared.pk)) == b"model bytes"
