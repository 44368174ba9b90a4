"""Verification reports the first bad event of a chain tampered with behind the
application's back (as the database superuser, triggers off): an edit, a deletion, an
insertion; and `audit_verify` says so, with exit status 1."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from mlgov.audit.chain import canonical_json, canonical_prefix
from mlgov.audit.models import AuditEvent
from mlgov.audit.verify import chain_verify
from tests.mlgov.audit.conftest import TABLE, append_events, as_superuser_behind_the_app


def verify(tenant):
    with schema_context(tenant.schema_name):
        return chain_verify(batch_size=3)  # small batches: findings across batch edges


def audit_verify(*args: str) -> tuple[int, str]:
    """Run the command as an operator would; (exit status, output)."""
    out = StringIO()
    try:
        call_command("audit_verify", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


@pytest.fixture()
def target(alpha):
    """Ten more events in alpha's chain; the position tampered with, inside the chain."""
    sequences = append_events(alpha, 10)
    return sequences[4]


def forged_hash(previous: str, sequence: int, row: dict) -> str:
    """What an attacker who knows the algorithm computes for a forged event."""
    prefix = canonical_prefix(
        occurred_at=row["occurred_at"],
        actor_id=row["actor_id"],
        actor_username=row["actor_username"],
        action=row["action"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        before_json=canonical_json(row["before"]),
        after_json=canonical_json(row["after"]),
        request_id=row["request_id"],
        ip_address=row["ip_address"],
    )
    return hashlib.sha256(f"{previous}{prefix}{sequence}}}".encode()).hexdigest()


def test_an_untouched_chain_is_whole(alpha, target):
    report = verify(alpha)
    assert report.is_whole
    with schema_context(alpha.schema_name):
        assert report.events_verified == AuditEvent.objects.count()
        assert report.last_hash == AuditEvent.objects.order_by("-sequence")[0].event_hash
    status, output = audit_verify("--tenant", "alpha")
    assert status == 0
    assert f"tenant alpha: chain whole: {report.events_verified} events" in output


def test_an_edited_event_is_reported_at_its_position(alpha, target):
    # when an event's content is changed in place
    with as_superuser_behind_the_app(alpha) as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET after = '{{\"index\": 999}}' WHERE sequence = %s", [target]
        )
    # then verification stops there: its content no longer matches its hash
    report = verify(alpha)
    assert (report.finding.sequence, report.finding.reason) == (target, "hash_mismatch")
    assert report.events_verified == target - 1
    status, output = audit_verify("--tenant", "alpha")
    assert status == 1
    assert f"chain broken at event #{target} (hash_mismatch)" in output
    assert f"Events #1 to #{target - 1} are intact." in output


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(alpha, target):
    # when an event is edited and its own hash recomputed to match
    with schema_context(alpha.schema_name):
        row = AuditEvent.objects.filter(sequence=target).values().get()
    row["after"] = {"index": "forged"}
    digest = forged_hash(row["previous_hash"], target, row)
    with as_superuser_behind_the_app(alpha) as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET after = %s::jsonb, event_hash = %s WHERE sequence = %s",
            ['{"index": "forged"}', digest, target],
        )
    # then the edited event passes, the next one no longer follows it
    report = verify(alpha)
    assert (report.finding.sequence, report.finding.reason) == (target + 1, "broken_link")


def test_a_deleted_event_is_reported_as_a_gap(alpha, target):
    with as_superuser_behind_the_app(alpha) as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE sequence = %s", [target])
    report = verify(alpha)
    assert (report.finding.sequence, report.finding.reason) == (target, "sequence_gap")
    assert f"event #{target} missing" in report.finding.message
    status, output = audit_verify("--tenant", "alpha")
    assert status == 1
    assert f"chain broken at event #{target} (sequence_gap)" in output


def test_an_event_inserted_and_renumbered_in_is_reported_where_the_chain_breaks(alpha, target):
    # when a forged event is inserted at `target`, later events renumbered, and the
    # forged event's hash computed correctly
    with schema_context(alpha.schema_name):
        previous = AuditEvent.objects.get(sequence=target - 1)
        row = AuditEvent.objects.filter(sequence=target).values().get()
    row.update(action="member.create", after={"username": "mallory"}, object_id="mallory")
    digest = forged_hash(previous.event_hash, target, row)
    with as_superuser_behind_the_app(alpha) as cursor:
        cursor.execute(f"UPDATE {TABLE} SET sequence = -sequence WHERE sequence >= %s", [target])
        cursor.execute(f"UPDATE {TABLE} SET sequence = 1 - sequence WHERE sequence < 0")
        cursor.execute(
            f"INSERT INTO {TABLE} (sequence, occurred_at, actor_id, actor_username, action, "
            "object_type, object_id, before, after, request_id, ip_address, previous_hash, "
            "event_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, %s::jsonb, %s, %s, %s, %s)",
            [
                target, row["occurred_at"], row["actor_id"], row["actor_username"],
                row["action"], row["object_type"], row["object_id"], '{"username": "mallory"}',
                row["request_id"], row["ip_address"], previous.event_hash, digest,
            ],
        )  # fmt: skip
    # then the forged event itself is consistent, but the event after it no longer links
    report = verify(alpha)
    assert (report.finding.sequence, report.finding.reason) == (target + 1, "broken_link")
    status, output = audit_verify("--tenant", "alpha")
    assert status == 1
    assert f"chain broken at event #{target + 1} (broken_link)" in output


def test_an_event_inserted_beside_another_is_reported_as_a_duplicate(alpha, target):
    # when the unique constraint is dropped and a second event claims `target`
    with as_superuser_behind_the_app(alpha) as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u' "
            "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = "
            "%s::regclass AND attname = 'sequence')]::int2[]",
            [TABLE, TABLE],
        )
        (constraint,) = cursor.fetchone()
        cursor.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{constraint}"')
        cursor.execute(
            f"INSERT INTO {TABLE} (sequence, occurred_at, actor_id, actor_username, action, "
            "object_type, object_id, before, after, request_id, ip_address, previous_hash, "
            "event_hash) SELECT sequence, occurred_at, actor_id, actor_username, 'forged', "
            "object_type, object_id, before, after, request_id, ip_address, previous_hash, "
            f"md5(event_hash) || md5(event_hash) FROM {TABLE} WHERE sequence = %s",
            [target],
        )
    report = verify(alpha)
    assert (report.finding.sequence, report.finding.reason) == (target, "sequence_duplicate")


def test_a_forged_event_appended_at_the_end_is_reported(alpha, target):
    with schema_context(alpha.schema_name):
        head = AuditEvent.objects.order_by("-sequence")[0]
    with as_superuser_behind_the_app(alpha) as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (sequence, occurred_at, actor_id, actor_username, action, "
            "object_type, object_id, request_id, previous_hash, event_hash) "
            "VALUES (%s, now(), NULL, 'system', 'member.create', 'user', 'mallory', '', %s, %s)",
            [head.sequence + 1, head.event_hash, "f" * 64],
        )
    report = verify(alpha)
    assert (report.finding.sequence, report.finding.reason) == (head.sequence + 1, "hash_mismatch")


def test_the_platform_chain_is_verified_too(db):
    status, output = audit_verify("--platform")
    assert status == 0
    assert "platform: chain whole:" in output


def test_an_unknown_tenant_is_an_error(db):
    status, output = audit_verify("--tenant", "nope")
    assert status == 1
    assert "No tenant with slug 'nope'" in output
