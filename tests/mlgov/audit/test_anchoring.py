"""Anchoring: each tenant's chain head copied into `public` by a beat task, once per
head; a rewrite or a truncation after an anchor is reported by verification."""

from __future__ import annotations

import hashlib
import logging
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from mlgov.audit.anchors import anchor_latest
from mlgov.audit.chain import canonical_json, canonical_prefix
from mlgov.audit.models import AuditEvent
from mlgov.audit.verify import chain_verify
from tenants.audit_anchoring import (
    ANCHOR_TASK_NAME,
    audit_anchor_heads,
    audit_anchor_tenant,
)
from tenants.models import AuditAnchor
from tests.mlgov.audit.conftest import TABLE, append_events, as_superuser_behind_the_app


def verify_with_anchor(tenant):
    with schema_context(tenant.schema_name):
        return chain_verify(anchor=anchor_latest(schema_name=tenant.schema_name))


def rewrite_consistently(tenant, target: int) -> None:
    """Change event `target` and re-hash it and every later event, as an attacker who
    knows the algorithm would: the chain alone verifies afterwards."""
    with schema_context(tenant.schema_name):
        later = AuditEvent.objects.filter(sequence__gte=target - 1).order_by("sequence")
        rows = list(later.values())
    previous = rows[0]["event_hash"]
    with as_superuser_behind_the_app(tenant) as cursor:
        for row in rows[1:]:
            if row["sequence"] == target:
                row["after"] = {"rewritten": True}
            prefix = canonical_prefix(
                occurred_at=row["occurred_at"], actor_id=row["actor_id"],
                actor_username=row["actor_username"], action=row["action"],
                object_type=row["object_type"], object_id=row["object_id"],
                before_json=canonical_json(row["before"]), after_json=canonical_json(row["after"]),
                request_id=row["request_id"], ip_address=row["ip_address"],
            )  # fmt: skip
            digest = hashlib.sha256(f"{previous}{prefix}{row['sequence']}}}".encode()).hexdigest()
            cursor.execute(
                f"UPDATE {TABLE} SET after = %s::jsonb, previous_hash = %s, event_hash = %s "
                "WHERE sequence = %s",
                [canonical_json(row["after"]), previous, digest, row["sequence"]],
            )
            previous = digest


def test_anchoring_copies_the_head_once(alpha, chain_of):
    # when alpha's head is anchored
    anchor = audit_anchor_tenant(tenant=alpha)
    # then public holds its sequence and hash
    assert (anchor.sequence, anchor.event_hash) == chain_of(alpha)
    # and anchoring the same head again adds nothing
    assert audit_anchor_tenant(tenant=alpha) is None
    assert AuditAnchor.objects.filter(tenant=alpha).count() == 1
    # a new head gets a new anchor
    append_events(alpha, 2)
    assert audit_anchor_tenant(tenant=alpha).sequence == chain_of(alpha)[0]
    assert AuditAnchor.objects.filter(tenant=alpha).count() == 2


def test_the_beat_task_anchors_every_tenant_and_a_second_run_adds_none(alpha, beta, chain_of):
    first = audit_anchor_heads.apply().get()
    assert first["failed"] == []
    assert first["anchored"] >= 2
    anchors = AuditAnchor.objects.count()
    assert AuditAnchor.objects.get(tenant=beta).sequence == chain_of(beta)[0]
    # when the task runs again with no new events
    second = audit_anchor_heads.apply().get()
    # then it adds no anchor
    assert second["anchored"] == 0
    assert second["unchanged"] == first["anchored"] + first["unchanged"]
    assert AuditAnchor.objects.count() == anchors


def test_the_task_is_scheduled_every_five_minutes_under_its_registered_name():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-anchor-heads"]
    assert entry["task"] == ANCHOR_TASK_NAME == audit_anchor_heads.name
    assert entry["schedule"] == 300.0
    from mlgov.celery import app

    assert ANCHOR_TASK_NAME in app.tasks


def test_a_whole_anchored_chain_says_so(alpha, auditor_client):
    audit_anchor_tenant(tenant=alpha)
    append_events(alpha, 3)
    report = verify_with_anchor(alpha)
    assert report.is_whole
    assert report.anchor_matches is True
    body = auditor_client.get("api/v1/audit/verify/").json()
    assert body["whole"] is True
    assert body["anchor"]["matches"] is True
    assert body["anchor"]["sequence"] == report.anchor.sequence


def test_a_consistent_rewrite_before_the_anchor_is_reported_at_the_anchor(alpha, chain_of):
    append_events(alpha, 6)
    anchored = audit_anchor_tenant(tenant=alpha)
    append_events(alpha, 2)
    target = anchored.sequence - 3
    # when an event before the anchor is changed and the rest of the chain re-hashed
    rewrite_consistently(alpha, target)
    with schema_context(alpha.schema_name):
        assert chain_verify().is_whole  # the chain alone cannot tell
    # then the anchor can
    report = verify_with_anchor(alpha)
    assert report.finding.sequence == anchored.sequence
    assert report.finding.reason == "anchor_mismatch"
    assert report.anchor_matches is False
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("audit_verify", "--tenant", "alpha", stdout=out)
    assert raised.value.returncode == 1
    assert f"chain broken at event #{anchored.sequence} (anchor_mismatch)" in out.getvalue()


def test_events_deleted_from_the_end_are_reported_by_the_anchor(alpha):
    append_events(alpha, 4)
    anchored = audit_anchor_tenant(tenant=alpha)
    # when the newest two events are deleted (the chain alone still verifies)
    with as_superuser_behind_the_app(alpha) as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE sequence > %s", [anchored.sequence - 2])
    report = verify_with_anchor(alpha)
    assert report.finding.reason == "anchor_beyond_head"
    assert report.finding.sequence == anchored.sequence - 1


def test_a_head_that_no_longer_matches_its_anchor_is_logged_and_the_anchor_kept(
    alpha, chain_of, caplog
):
    anchored = audit_anchor_tenant(tenant=alpha)
    rewrite_consistently(alpha, anchored.sequence)
    with caplog.at_level(logging.ERROR, logger="tenants.audit_anchoring"):
        assert audit_anchor_tenant(tenant=alpha) is None
    assert "no longer matches its anchor" in caplog.text
    kept = AuditAnchor.objects.get(tenant=alpha, sequence=anchored.sequence)
    assert kept.event_hash == anchored.event_hash != chain_of(alpha)[1]


@pytest.fixture()
def auditor_client(alpha, api_as):
    return api_as(alpha, "audrey")
