"""/t/<slug>/api/v1/datasets/<id>/versions/: upload (multipart and raw), list, retrieve,
download (exact bytes, download permission, audited) and delete (refused while used)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from registry.models import (
    Artifact,
    DatasetVersion,
    Experiment,
    ModelVersion,
    RegisteredModel,
    Run,
    RunDatasetInput,
)
from registry.services import datasets as services
from tests.conftest import user_in

CSV = (
    b"age,income,city,member,seen_at,gender\n"
    b"31,1200.5,Berlin,true,2024-01-05T10:00:00Z,f\n"
    b"42,,Paris,false,2024-01-06T11:30:00Z,m\n"
)
PARQUET_TYPE = "application/vnd.apache.parquet"


def _parquet() -> bytes:
    frame = pd.DataFrame(
        {
            "age": [31, 42],
            "income": [1200.5, None],
            "city": ["Berlin", "Paris"],
            "member": [True, False],
            "seen_at": pd.to_datetime(["2024-01-05T10:00", "2024-01-06T11:30"], utc=True),
            "gender": ["f", "m"],
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _versions(dataset_id: int) -> str:
    return f"api/v1/datasets/{dataset_id}/versions/"


def post_raw(api, dataset_id, body: bytes, content_type="text/csv", **params):
    path = _versions(dataset_id) + (f"?{urlencode(params)}" if params else "")
    # CONTENT_TYPE also for an empty body (the test client sets it only when there is one)
    headers = api._headers({"CONTENT_TYPE": content_type})
    return api.client.post(api.url(path), data=body, content_type=content_type, **headers)


def post_multipart(
    api, dataset_id, body: bytes, name="data.csv", content_type="text/csv", **fields
):
    upload = SimpleUploadedFile(name, body, content_type=content_type)
    return api.client.post(
        api.url(_versions(dataset_id)), data={"file": upload, **fields}, **api._headers({})
    )


def _files(tenant) -> set[Path]:
    root = Path(django_settings.ARTIFACT_ROOT) / tenant.schema_name
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _artifact_count(tenant) -> int:
    with schema_context(tenant.schema_name):
        return Artifact.objects.count()


@pytest.fixture()
def credit(alpha):
    """alice's dataset `credit` (mia, victor see it through their roles; bob does not)."""
    with schema_context(alpha.schema_name):
        return services.dataset_create(acting_user=user_in(alpha, "alice"), name="credit")


def _download(api, dataset_id, version=1):
    return api.get(f"{_versions(dataset_id)}{version}/download/")


def _streamed(response) -> bytes:
    return b"".join(response.streaming_content)


# --- upload and download ------------------------------------------------------------


def test_csv_round_trip_multipart(alpha, api_as, credit):
    alice = api_as(alpha, "alice")
    # when alice uploads a CSV with its declared columns
    response = post_multipart(
        alice,
        credit.pk,
        CSV,
        target="member",
        sensitive_attributes='["gender"]',
        pii_columns="city, age",
        description="first cut",
        source="warehouse",
    )
    # then the version describes the file
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1
    assert body["file_format"] == "csv"
    assert body["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert body["size_bytes"] == len(CSV)
    assert body["row_count"] == 2
    assert body["columns"] == [
        {"name": "age", "dtype": "integer"},
        {"name": "income", "dtype": "float"},
        {"name": "city", "dtype": "string"},
        {"name": "member", "dtype": "boolean"},
        {"name": "seen_at", "dtype": "datetime"},
        {"name": "gender", "dtype": "string"},
    ]
    assert body["target"] == "member"
    assert body["sensitive_attributes"] == ["gender"]
    assert body["pii_columns"] == ["city", "age"]
    assert (body["description"], body["source"], body["created_by"]) == (
        "first cut",
        "warehouse",
        "alice",
    )
    # and the download gives back the exact bytes, with their digest
    download = _download(alice, credit.pk)
    assert download.status_code == 200
    assert _streamed(download) == CSV
    assert download["X-Content-SHA256"] == hashlib.sha256(CSV).hexdigest()
    assert download["Content-Length"] == str(len(CSV))
    assert download["Content-Type"] == "text/csv"
    assert download["Content-Disposition"] == 'attachment; filename="credit-v1.csv"'


def test_parquet_round_trip_raw_body(alpha, api_as, credit):
    alice = api_as(alpha, "alice")
    data = _parquet()
    # when alice sends the Parquet file as the body, metadata in the query
    response = post_raw(
        alice,
        credit.pk,
        data,
        content_type=PARQUET_TYPE,
        target="member",
        sensitive_attributes="gender",
    )
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["file_format"] == "parquet"
    assert body["row_count"] == 2
    assert {c["name"]: c["dtype"] for c in body["columns"]} == {
        "age": "integer",
        "income": "float",
        "city": "string",
        "member": "boolean",
        "seen_at": "datetime",
        "gender": "string",
    }
    download = _download(alice, credit.pk)
    streamed = _streamed(download)
    assert streamed == data
    assert hashlib.sha256(streamed).hexdigest() == body["sha256"] == download["X-Content-SHA256"]
    assert download["Content-Type"] == PARQUET_TYPE


def test_multipart_parquet_is_recognised_and_versions_count_up(alpha, api_as, credit):
    alice = api_as(alpha, "alice")
    first = post_raw(alice, credit.pk, CSV)
    second = post_multipart(alice, credit.pk, _parquet(), name="x.bin", content_type="")
    assert first.json()["version"] == 1
    assert second.status_code == 201, second.json()
    assert (second.json()["version"], second.json()["file_format"]) == (2, "parquet")
    detail = alice.get(f"api/v1/datasets/{credit.pk}/").json()
    assert (detail["version_count"], detail["latest_version"]) == (2, 2)


@pytest.mark.parametrize("how", ["raw", "multipart"])
def test_past_the_limit_is_413_and_nothing_is_kept(alpha, api_as, credit, settings, how):
    # given a limit of 100 bytes
    settings.MLGOV_DATASET_MAX_BYTES = 100
    alice = api_as(alpha, "alice")
    rows, files = _artifact_count(alpha), _files(alpha)
    big = CSV + b"55,1,Rome,true,2024-01-07T00:00:00Z,f\n" * 20
    # when a larger file is sent
    if how == "raw":
        response = post_raw(alice, credit.pk, big)
    else:
        response = post_multipart(alice, credit.pk, big)
    # then 413, and no row, no file, no version
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "artifact_too_large"
    assert response.json()["error"]["details"] == {"max_bytes": 100}
    assert _artifact_count(alpha) == rows
    assert _files(alpha) == files
    with schema_context(alpha.schema_name):
        assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xd8\xff\xe0 a jpeg, not a table", "text/csv"),
        (CSV, PARQUET_TYPE),
        (b"a,b\n1,2,3\n", "text/csv"),
        (b"", "text/csv"),
    ],
    ids=["binary", "csv-as-parquet", "ragged", "empty"],
)
def test_a_file_that_is_not_a_table_is_400(alpha, api_as, credit, body, content_type):
    alice = api_as(alpha, "alice")
    rows, files = _artifact_count(alpha), _files(alpha)
    response = post_raw(alice, credit.pk, body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_dataset_file"
    assert (_artifact_count(alpha), _files(alpha)) == (rows, files)


def test_unknown_declared_columns_are_400_naming_them(alpha, api_as, credit):
    alice = api_as(alpha, "alice")
    files = _files(alpha)
    response = post_multipart(
        alice, credit.pk, CSV, sensitive_attributes="gender,ethnicity", target="default"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_column"
    assert error["details"]["fields"] == {
        "target": ["default"],
        "sensitive_attributes": ["ethnicity"],
    }
    assert "ethnicity" in error["message"]
    assert _files(alpha) == files


def test_bad_metadata_and_media_types_are_refused(alpha, api_as, credit):
    alice = api_as(alpha, "alice")
    unknown = post_raw(alice, credit.pk, CSV, sha256="0" * 64)
    assert unknown.status_code == 400
    assert "sha256" in unknown.json()["error"]["details"]["fields"]
    assert post_raw(alice, credit.pk, CSV, pii_columns="[1, 2]").status_code == 400
    json_body = alice.post(_versions(credit.pk), {"file": "a,b"})
    assert json_body.status_code == 415
    no_file = alice.client.post(
        alice.url(_versions(credit.pk)), data={"target": "x"}, **alice._headers({})
    )
    assert no_file.status_code == 400
    assert "file" in no_file.json()["error"]["details"]["fields"]


# --- who may upload, see and download --------------------------------------------------


@pytest.mark.parametrize(
    ("username", "scope", "status", "code"),
    [
        ("mia", "admin", 403, "permission_denied"),  # sees alice's dataset, may not change it
        ("victor", "admin", 403, "permission_denied"),
        ("bob", "admin", 404, "not_found"),
        ("alice", "read", 403, "insufficient_scope"),
        (None, "admin", 401, "not_authenticated"),
    ],
)
def test_who_may_not_upload(alpha, api_as, credit, username, scope, status, code):
    response = post_raw(api_as(alpha, username, scope=scope), credit.pk, CSV)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    with schema_context(alpha.schema_name):
        assert not DatasetVersion.objects.exists()


def test_download_needs_the_download_permission(alpha, api_as, credit):
    # given a version of alice's dataset
    assert post_raw(api_as(alpha, "alice"), credit.pk, CSV).status_code == 201
    versions = _versions(credit.pk)
    # victor (viewer) sees it but may not download it; bob does not see it at all
    victor = api_as(alpha, "victor")
    assert victor.get(versions).status_code == 200
    assert victor.get(f"{versions}1/").status_code == 200
    assert _download(victor, credit.pk).status_code == 403
    bob = api_as(alpha, "bob")
    assert bob.get(versions).status_code == 404
    assert _download(bob, credit.pk).status_code == 404
    # mia may download once alice grants her `download`
    mia = api_as(alpha, "mia")
    assert _download(mia, credit.pk).status_code == 403
    granted = api_as(alpha, "alice").post(
        f"api/v1/datasets/{credit.pk}/permissions/grant/",
        {"username": "mia", "actions": ["download"]},
    )
    assert granted.status_code == 200
    download = _download(mia, credit.pk)
    assert download.status_code == 200
    assert _streamed(download) == CSV
    # a read-scoped token reads: downloading is a read
    assert _download(api_as(alpha, "alice", scope="read"), credit.pk).status_code == 200
    # and every download is audited, with who and what
    with schema_context(alpha.schema_name):
        events = list(AuditEvent.objects.filter(action="dataset.download").order_by("sequence"))
    assert [e.actor_username for e in events] == ["mia", "alice"]
    assert events[0].after["sha256"] == hashlib.sha256(CSV).hexdigest()


def test_cross_tenant_and_anonymous_never_reach_the_versions(alpha, beta, api_as, credit):
    assert post_raw(api_as(alpha, "alice"), credit.pk, CSV).status_code == 201
    paths = [
        _versions(credit.pk),
        f"{_versions(credit.pk)}1/",
        f"{_versions(credit.pk)}1/download/",
    ]
    for path in paths:
        assert api_as(alpha, None).get(path).status_code == 401
        assert api_as(beta, "carol", path_tenant=alpha).get(path).status_code == 401
        assert api_as(alpha, "alice", path_tenant=beta).get(path).status_code == 401
        # carol's own tenant has no such dataset: alpha's is never served under /t/beta/
        assert api_as(beta, "carol").get(path).status_code == 404
    assert post_raw(api_as(beta, "carol", path_tenant=alpha), credit.pk, CSV).status_code == 401
    assert api_as(beta, "carol", path_tenant=alpha).delete(paths[1]).status_code == 401


# --- delete ------------------------------------------------------------------------------


def _consume(version_id: int) -> Run:
    run = Run.objects.create(
        experiment=Experiment.objects.create(name=f"e{version_id}"), start_time=timezone.now()
    )
    RunDatasetInput.objects.create(run=run, dataset_version_id=version_id)
    return run


def test_delete_is_refused_while_a_run_or_its_model_used_the_version(
    alpha, api_as, credit, django_capture_on_commit_callbacks
):
    alice = api_as(alpha, "alice")
    version_id = post_raw(alice, credit.pk, CSV).json()["id"]
    path = f"{_versions(credit.pk)}1/"
    with schema_context(alpha.schema_name):
        run = _consume(version_id)
        model = RegisteredModel.objects.create(name="scorer")
        ModelVersion.objects.create(registered_model=model, version=1, run=run)
    refused = alice.delete(path)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "dataset_version_in_use"
    assert refused.json()["error"]["details"] == {"runs": 1, "model_versions": 1}
    assert alice.get(path).status_code == 200


def test_delete_removes_the_version_and_its_file(
    alpha, api_as, credit, django_capture_on_commit_callbacks
):
    alice = api_as(alpha, "alice")
    created = post_raw(alice, credit.pk, CSV).json()
    with schema_context(alpha.schema_name):
        artifact_id = DatasetVersion.objects.get(pk=created["id"]).artifact_id
    files = _files(alpha)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.delete(f"{_versions(credit.pk)}1/")
    assert response.status_code == 204
    assert len(files - _files(alpha)) == 1
    with schema_context(alpha.schema_name):
        assert not Artifact.objects.filter(pk=artifact_id).exists()
        [event] = AuditEvent.objects.filter(action="dataset_version.delete")
    assert event.before["sha256"] == created["sha256"]
    assert alice.get(f"{_versions(credit.pk)}1/").status_code == 404


@pytest.mark.parametrize(
    ("username", "scope", "status"),
    [
        ("mia", "admin", 403),
        ("victor", "admin", 403),
        ("bob", "admin", 404),
        ("alice", "read", 403),
    ],
)
def test_who_may_not_delete_a_version(alpha, api_as, credit, username, scope, status):
    assert post_raw(api_as(alpha, "alice"), credit.pk, CSV).status_code == 201
    response = api_as(alpha, username, scope=scope).delete(f"{_versions(credit.pk)}1/")
    assert response.status_code == status
    with schema_context(alpha.schema_name):
        assert DatasetVersion.objects.filter(dataset=credit, version=1).exists()


# --- audit and query counts --------------------------------------------------------------


def test_upload_is_audited(alpha, api_as, credit):
    created = post_raw(api_as(alpha, "mia"), *[credit.pk, CSV])
    assert created.status_code == 403  # mia may not change alice's dataset
    created = post_raw(api_as(alpha, "alice"), credit.pk, CSV)
    with schema_context(alpha.schema_name):
        [event] = AuditEvent.objects.filter(action="dataset_version.create")
    assert event.actor_username == "alice"
    assert event.object_id == str(created.json()["id"])
    assert event.after["sha256"] == created.json()["sha256"]
    assert event.after["row_count"] == 2


def test_version_list_query_count_does_not_grow(alpha, api_as, credit):
    api = api_as(alpha, "victor")

    def add(count, start):
        with schema_context(alpha.schema_name):
            artifacts = Artifact.objects.bulk_create(
                Artifact(kind="dataset", sha256="0" * 64, size_bytes=1, key_version=1)
                for _ in range(count)
            )
            DatasetVersion.objects.bulk_create(
                DatasetVersion(
                    dataset=credit,
                    version=start + i + 1,
                    artifact=artifact,
                    file_format="csv",
                    columns=[{"name": "a", "dtype": "integer"}],
                    row_count=1,
                )
                for i, artifact in enumerate(artifacts)
            )

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api.get(_versions(credit.pk))
        assert response.status_code == 200
        return len(captured)

    add(10, 0)
    api.get(_versions(credit.pk))  # warm up
    small = queries()
    add(990, 10)
    large = queries()
    assert small == large
    page = api.get(_versions(credit.pk)).json()
    assert page["count"] == 1000
    assert page["results"][0]["version"] == 1000


def test_the_openapi_schema_describes_the_endpoints(alpha, api_as):
    response = api_as(alpha, "alice").get("api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/datasets/{dataset_pk}/versions/{version}/download/" in text
    assert "application/vnd.apache.parquet" in text


# --- console sessions ----------------------------------------------------------------------


def _session_with_csrf(console_login, tenant):
    client = console_login(tenant, "alice")
    client.handler.enforce_csrf_checks = True
    token = "a" * 32
    client.cookies[django_settings.CSRF_COOKIE_NAME] = token
    return client, {"HTTP_X_CSRFTOKEN": token}


def test_console_session_upload_goes_through_the_csrf_check(alpha, console_login, credit):
    # given alice's console session (its CSRF check reads the form before the view does)
    client, csrf = _session_with_csrf(console_login, alpha)
    url = f"/t/{alpha.slug}/{_versions(credit.pk)}"
    upload = SimpleUploadedFile("data.csv", CSV, content_type="text/csv")
    # when she uploads a file, then it is stored like any other
    response = client.post(url, data={"file": upload, "target": "member"}, **csrf)
    assert response.status_code == 201, response.json()
    assert response.json()["sha256"] == hashlib.sha256(CSV).hexdigest()
    # and without the CSRF token nothing is stored
    upload = SimpleUploadedFile("data.csv", CSV, content_type="text/csv")
    assert client.post(url, data={"file": upload}).status_code == 403


def test_console_session_upload_past_the_limit_is_413(alpha, console_login, credit, settings):
    settings.MLGOV_DATASET_MAX_BYTES = 50
    client, csrf = _session_with_csrf(console_login, alpha)
    files = _files(alpha)
    upload = SimpleUploadedFile("data.csv", CSV, content_type="text/csv")
    response = client.post(f"/t/{alpha.slug}/{_versions(credit.pk)}", data={"file": upload}, **csrf)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "artifact_too_large"
    assert _files(alpha) == files


def test_head_of_a_download_sends_headers_and_no_audit_event(alpha, api_as, credit):
    alice = api_as(alpha, "alice")
    assert post_raw(alice, credit.pk, CSV).status_code == 201
    response = alice.client.head(
        alice.url(f"{_versions(credit.pk)}1/download/"), **alice._headers({})
    )
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(CSV))
    assert response["X-Content-SHA256"] == hashlib.sha256(CSV).hexdigest()
    with schema_context(alpha.schema_name):
        assert not AuditEvent.objects.filter(action="dataset.download").exists()
