"""Audit pages: auditors and owners read, filter, verify and export; others get a 404."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from mlgov.audit.recorder import record_event_atomically
from tests.console.conftest import html


def test_audit_log_lists_events_newest_first_with_filters(world, page_as):
    response = page_as("audrey").get("/t/alpha/audit/")
    assert response.status_code == 200
    body = html(response)
    assert "<title>Audit log · Alpha · mlgov</title>" in body
    assert "model_version.register" in body or "run.create" in body
    filtered = html(page_as("audrey").get("/t/alpha/audit/?action=dataset.&actor=mia"))
    assert "dataset.create" in filtered
    assert "run.create" not in filtered


def test_audit_log_pages_backwards_by_sequence(alpha, page_as):
    client = page_as("alice")
    with schema_context(alpha.schema_name):
        for number in range(60):
            record_event_atomically(actor=None, action="test.event", object_id=number)
    first = html(client.get("/t/alpha/audit/"))
    assert "before=" in first  # more than one page of events
    older = first.split("before=")[1].split('"')[0]
    second = client.get(f"/t/alpha/audit/?before={older}")
    assert second.status_code == 200
    assert "Newest" in html(second)


def test_bad_filter_values_are_form_errors_not_500(world, page_as):
    response = page_as("audrey").get(
        "/t/alpha/audit/?occurred_from=yesterday&occurred_to=2020-01-01&before=99999999999999999999"
    )
    assert response.status_code == 200
    assert 'class="error"' in html(response)


def test_verify_reports_an_intact_chain(world, page_as):
    client = page_as("audrey")
    fragment = client.get("/t/alpha/audit/verify/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    body = html(fragment)
    assert "The chain is intact." in body
    assert "<html" not in body  # a fragment for htmx
    page = html(client.get("/t/alpha/audit/verify/"))
    assert "<title>Chain verification" in page


def test_verify_names_the_first_bad_event(world, alpha, page_as):
    client = page_as("audrey")
    with schema_context(alpha.schema_name), connection.cursor() as cursor:
        # an insider edits event #3 behind the triggers' back
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE sequence = 3")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
    body = html(client.get("/t/alpha/audit/verify/", HTTP_HX_REQUEST="true"))
    assert "The chain is broken at event #3." in body
    assert "hash_mismatch" in body


@pytest.mark.parametrize("file_format", ["csv", "json"])
def test_export_downloads_the_filtered_events(world, page_as, file_format):
    response = page_as("audrey").get(f"/t/alpha/audit/export/?format={file_format}&action=run.")
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'.{file_format}"')
    content = b"".join(response.streaming_content).decode()
    if file_format == "csv":
        rows = list(csv.DictReader(io.StringIO(content)))
    else:
        rows = json.loads(content)
    assert rows
    assert {row["action"].split(".")[0] for row in rows} == {"run"}


@pytest.mark.parametrize("username", ["bob", "mia", "rita", "victor"])
def test_audit_pages_do_not_exist_for_other_roles(alpha, page_as, username):
    client = page_as(username)
    for path in ("audit/", "audit/verify/", "audit/export/?format=csv"):
        assert client.get(f"/t/alpha/{path}").status_code == 404, path
    assert 'href="/t/alpha/audit/"' not in html(client.get("/t/alpha/"))
