"""The auditor API under /t/<slug>/api/v1/audit/: list, filter, export, verify; for
auditors and owners only; each tenant sees only its own log."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from mlgov.audit.chain import canonical_payload, event_hash
from mlgov.audit.export import EXPORT_COLUMNS, audit_export_stream
from mlgov.audit.models import AuditEvent
from mlgov.audit.recorder import record_event
from mlgov.audit.selectors import AuditFilters
from tests.conftest import user_in
from tests.mlgov.audit.conftest import TABLE, as_superuser_behind_the_app

ENDPOINTS = ["api/v1/audit/", "api/v1/audit/export/", "api/v1/audit/verify/"]


@pytest.fixture()
def auditor(alpha, api_as):
    """audrey's API client; her token is issued (and audited) before `events`."""
    return api_as(alpha, "audrey")


@pytest.fixture()
def events(alpha, auditor):
    """Known events in alpha's chain, the newest: alice manages members, mia creates a
    dataset, and a note names an object as a spreadsheet formula."""
    alice, mia = user_in(alpha, "alice"), user_in(alpha, "mia")
    started = timezone.now()
    with schema_context(alpha.schema_name):
        for actor, action, object_type, object_id, after in [
            (alice, "member.create", "user", "mallory", {"role": "viewer"}),
            (alice, "member.set_role", "user", "mallory", {"role": "auditor"}),
            (mia, "dataset.create", "dataset", "17", {"name": "churn", "rows": 1200}),
            (None, "membership.note", "user", "=HYPERLINK(\"http://x\")", None),
        ]:
            with transaction.atomic():
                record_event(
                    actor=actor, action=action, object_type=object_type,
                    object_id=object_id, after=after,
                )  # fmt: skip
    return {"alice": alice, "mia": mia, "started": started}


def actions(response) -> list[str]:
    return [event["action"] for event in response.json()["results"]]


def streamed(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_an_auditor_lists_the_log_newest_first_page_by_page(auditor, events):
    api = auditor
    first = api.get("api/v1/audit/?page_size=2")
    assert first.status_code == 200
    body = first.json()
    assert [e["action"] for e in body["results"]][:2] == ["membership.note", "dataset.create"]
    assert set(body["results"][0]) == set(EXPORT_COLUMNS)
    # the next page continues where the first ended: no gap, no repeat
    second = api.client.get(body["next"], HTTP_AUTHORIZATION=api.authorization)
    sequences = [e["sequence"] for e in body["results"] + second.json()["results"]]
    assert sequences == sorted(sequences, reverse=True)
    assert len(set(sequences)) == 4
    assert sequences == list(range(sequences[0], sequences[0] - 4, -1))


def test_owners_may_read_the_log_too(alpha, api_as, events):
    api = api_as(alpha, "alice")
    for path in ENDPOINTS:
        response = api.get(path)
        assert response.status_code == 200, (path, response.content[:300])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor=alice", ["member.set_role", "member.create"]),
        ("action=member.", ["member.set_role", "member.create"]),
        ("action=member.*", ["member.set_role", "member.create"]),
        ("action=member.create", ["member.create"]),
        ("action=member", []),  # exact unless it ends in `.` or `*`
        ("object_type=dataset&object_id=17", ["dataset.create"]),
        ("object_id=mallory&action=member.set_role", ["member.set_role"]),
    ],
)
def test_filters(auditor, events, query, expected):
    since = urlencode({"from": events["started"].isoformat()})
    response = auditor.get(f"api/v1/audit/?{query}&{since}")
    assert response.status_code == 200
    assert actions(response) == expected


def test_filter_by_actor_id_and_time_range(auditor, events):
    api = auditor
    by_id = api.get(f"api/v1/audit/?actor={events['mia'].pk}")
    assert actions(by_id) == ["dataset.create"]
    since = (events["started"] - timedelta(microseconds=1)).isoformat()
    recent = api.get("api/v1/audit/", data={"from": since})
    assert actions(recent) == [
        "membership.note", "dataset.create", "member.set_role", "member.create",
    ]  # fmt: skip
    until = api.get("api/v1/audit/", data={"from": since, "to": events["started"].isoformat()})
    assert actions(until) == []
    future = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert actions(api.get("api/v1/audit/", data={"from": future})) == []


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2026-13-45T99:00:00"},
        {"from": "2026-01-02", "to": "2026-01-01"},
        {"actor": "x" * 151},
        {"action": "a\x00b"},
        {"object_id": "9" * 101},
        {"actor": "99999999999999999999999999"},  # not a user id PostgreSQL could hold
    ],
)
@pytest.mark.parametrize("path", ["api/v1/audit/", "api/v1/audit/export/"])
def test_bad_filter_values_are_400_not_500(alpha, api_as, params, path):
    response = api_as(alpha, "audrey").get(path, data=params)
    if params.get("actor", "").isdigit():
        assert response.status_code == 200  # a number too large to be an id: a user name
        return
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "validation_error"


def test_an_unknown_export_format_is_400(alpha, api_as):
    response = api_as(alpha, "audrey").get("api/v1/audit/export/?format=xml")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "format" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("username", ["victor", "mia", "rita", "bob"])
@pytest.mark.parametrize("path", ENDPOINTS)
def test_members_without_the_audit_permission_get_403(alpha, api_as, username, path):
    response = api_as(alpha, username).get(path)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_anonymous_is_401(alpha, api_as, path):
    response = api_as(alpha, None).get(path)
    assert response.status_code == 401


@pytest.mark.parametrize("path", ENDPOINTS)
def test_another_tenants_token_is_401(alpha, beta, api_as, path):
    # carol owns beta (and may read beta's log); her token means nothing under alpha
    response = api_as(beta, "carol", path_tenant=alpha).get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_each_tenant_sees_only_its_own_log(beta, api_as, auditor, events):
    carol = api_as(beta, "carol")
    alpha_log = auditor.get("api/v1/audit/?page_size=500").json()["results"]
    beta_log = carol.get("api/v1/audit/?page_size=500").json()["results"]
    beta_export = streamed(carol.get("api/v1/audit/export/?format=json"))
    assert "mallory" in {e["object_id"] for e in alpha_log}
    assert "mallory" not in {e["object_id"] for e in beta_log}
    assert "mallory" not in beta_export
    with schema_context(beta.schema_name):
        assert len(beta_log) == AuditEvent.objects.count()
    assert {e["event_hash"] for e in alpha_log}.isdisjoint(e["event_hash"] for e in beta_log)


def test_csv_export_streams_the_filtered_events_in_chain_order(auditor, events):
    response = auditor.get("api/v1/audit/export/?format=csv&object_type=user")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-alpha-')
    rows = list(csv.reader(io.StringIO(streamed(response))))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    mine = [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in rows[1:]]
    mine = [row for row in mine if row["action"].startswith(("member.", "membership."))][-3:]
    assert [row["action"] for row in mine] == [
        "member.create", "member.set_role", "membership.note",
    ]  # fmt: skip
    assert [int(r["sequence"]) for r in mine] == sorted(int(r["sequence"]) for r in mine)
    assert mine[0]["actor_username"] == "alice"
    assert mine[0]["actor_id"] == str(events["alice"].pk)
    assert json.loads(mine[1]["after"]) == {"role": "auditor"}
    assert mine[2]["after"] == ""
    # a cell a spreadsheet would run as a formula is defused
    assert mine[2]["object_id"] == "'=HYPERLINK(\"http://x\")"
    assert {row[EXPORT_COLUMNS.index("object_type")] for row in rows[1:]} == {"user"}


def test_json_export_is_exact_enough_to_recompute_every_hash(alpha, auditor, events):
    response = auditor.get("api/v1/audit/export/?format=json")
    assert response["Content-Type"] == "application/json"
    exported = json.loads(streamed(response))
    with schema_context(alpha.schema_name):
        assert len(exported) == AuditEvent.objects.count()
    assert list(exported[0]) == list(EXPORT_COLUMNS)
    previous = "0" * 64
    for event in exported:
        assert event["previous_hash"] == previous
        payload = canonical_payload(
            **{k: event[k] for k in EXPORT_COLUMNS if k not in ("previous_hash", "event_hash")}
            | {"occurred_at": _parse(event["occurred_at"])}
        )
        assert event_hash(previous, payload) == event["event_hash"]
        previous = event["event_hash"]
    assert exported[-1]["object_id"] == '=HYPERLINK("http://x")'  # JSON is exact


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_export_reads_in_batches(alpha, events):
    user = user_in(alpha, "audrey")
    with schema_context(alpha.schema_name):
        total = AuditEvent.objects.count()
        chunks = list(
            audit_export_stream(
                acting_user=user, filters=AuditFilters(), file_format="json", batch_size=2
            )
        )
    # "[", one chunk per batch of two events, "]"
    assert len(chunks) == 2 + (total + 1) // 2


def test_verify_endpoint_reports_a_whole_chain_then_the_first_bad_event(alpha, auditor, events):
    api = auditor
    whole = api.get("api/v1/audit/verify/")
    assert whole.status_code == 200
    body = whole.json()
    with schema_context(alpha.schema_name):
        count = AuditEvent.objects.count()
        target = AuditEvent.objects.get(action="member.set_role").sequence
    assert body["whole"] is True
    assert body["events_verified"] == count
    assert body["first_bad"] is None
    assert body["summary"] == f"chain whole: {count} events"
    # when an event is edited behind the application's back
    with as_superuser_behind_the_app(alpha) as cursor:
        cursor.execute(f"UPDATE {TABLE} SET object_id = 'eve' WHERE sequence = %s", [target])
    broken = api.get("api/v1/audit/verify/").json()
    assert broken["whole"] is False
    assert broken["first_bad"]["sequence"] == target
    assert broken["first_bad"]["reason"] == "hash_mismatch"
    assert broken["last_verified"]["sequence"] == target - 1


def test_the_audit_endpoints_are_in_the_openapi_schema(alpha, api_as):
    response = api_as(alpha, "alice").get("api/schema/")
    assert response.status_code == 200
    for path in ("/api/v1/audit/", "/api/v1/audit/export/", "/api/v1/audit/verify/"):
        assert path.encode() in response.content


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("api/v1/audit.json", "application/json"),
        ("api/v1/audit/verify.json", "application/json"),
        ("api/v1/audit/export.csv", "text/csv; charset=utf-8"),
        ("api/v1/audit/export.json", "application/json"),
    ],
)
def test_format_suffix_twins_answer_like_their_routes(auditor, path, content_type):
    response = auditor.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type


def test_an_unknown_export_suffix_is_400(auditor):
    response = auditor.get("api/v1/audit/export.xml")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
