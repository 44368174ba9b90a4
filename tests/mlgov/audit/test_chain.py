"""The canonical encoding: the recorder (hash computed by PostgreSQL) and the verifier
(hash computed here) both equal the definition, `chain.canonical_payload`, for awkward
values too."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.db import connections, transaction
from django_tenants.utils import schema_context

from mlgov.api.request_id import RequestContext, bind_request_context
from mlgov.audit.chain import (
    canonical_json,
    canonical_json_from_text,
    canonical_payload,
    canonical_prefix,
    event_hash,
)
from mlgov.audit.models import AuditEvent
from mlgov.audit.recorder import record_event
from mlgov.audit.verify import chain_verify

AWKWARD_VALUES = [
    None,
    {},
    [],
    {"b": 1, "a": [1, 2, {"z": None, "y": True}]},
    {"quote": 'say "hi"\\ \n\t\u2028', "unicode": "Grüße 😀 中文"},
    {"floats": [0.1, 1.5e-7, 1e16, 1e300, -2.5, 3.0], "big": 2**70, "neg": -(2**63)},
    {"10": "int-like key", "": "empty key", "ä": "non-ascii key"},
    "just a string",
    12345,
]


@pytest.mark.parametrize("value", AWKWARD_VALUES)
def test_the_fast_encodings_equal_the_definition(value):
    fields = dict(
        occurred_at=datetime(2026, 11, 26, 16, 30, 0, 123, tzinfo=UTC),
        actor_id=42,
        actor_username='a"li\\ce',
        action="member.create",
        object_type="user",
        object_id="7",
        request_id="req-1",
        ip_address="2001:db8::1",
    )
    definition = canonical_payload(sequence=1234, before=value, after={"v": value}, **fields)
    prefix = canonical_prefix(
        **fields, before_json=canonical_json(value), after_json=canonical_json({"v": value})
    )
    assert (prefix + "1234}").encode() == definition
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), default=str
    )


def test_json_read_back_as_text_encodes_like_the_object():
    value = {"b": [1, 2.5], "a": "ü"}
    assert canonical_json_from_text('{"a": "ü", "b": [1, 2.5]}') == canonical_json(value)
    assert canonical_json_from_text(None) == "null"


def test_awkward_values_still_verify_after_a_round_trip_through_postgres(alpha):
    # given events whose JSON, text and address PostgreSQL would normalise
    token = bind_request_context(RequestContext("req\x00id", "2001:DB8:0:0:0:0:0:1"))
    try:
        with schema_context(alpha.schema_name):
            for value in AWKWARD_VALUES + [
                {"nan": float("nan"), "inf": float("inf"), "negzero": -0.0, "e16": 1e16},
                {"nul": "a\x00b", "surrogate": "x\ud800y", "\ud83d": 1},
            ]:
                with transaction.atomic():
                    record_event(
                        actor=None,
                        actor_username='jürgen\x7f"\\\t😀',
                        action="odd\x00value",
                        object_type="type\n\x01é",
                        object_id="o\x00",
                        before=value,
                    )
            # when the chain is verified / then every hash still holds
            report = chain_verify()
            assert report.is_whole, report.summary()
            # and each stored row hashes, by the definition, to its stored hash
            for event in AuditEvent.objects.order_by("-sequence")[:11]:
                payload = canonical_payload(
                    sequence=event.sequence,
                    occurred_at=event.occurred_at,
                    actor_id=event.actor_id,
                    actor_username=event.actor_username,
                    action=event.action,
                    object_type=event.object_type,
                    object_id=event.object_id,
                    before=event.before,
                    after=event.after,
                    request_id=event.request_id,
                    ip_address=event.ip_address,
                )
                assert event_hash(event.previous_hash, payload) == event.event_hash
            stored = AuditEvent.objects.order_by("-sequence").first()
            assert stored.ip_address == "2001:db8::1"
            assert stored.request_id == "req\ufffdid"
    finally:
        token.var.reset(token)


def test_the_returned_event_is_the_stored_row(alpha):
    with schema_context(alpha.schema_name), transaction.atomic():
        event = record_event(actor=None, action="x.y", object_id=5, after={"k": [1, 2]})
        stored = AuditEvent.objects.get(pk=event.pk)
    assert (event.sequence, event.previous_hash, event.event_hash, event.after) == (
        stored.sequence,
        stored.previous_hash,
        stored.event_hash,
        stored.after,
    )


def test_recording_outside_a_transaction_is_refused(alpha):
    # given a connection outside any atomic block (the test's own transaction hidden)
    with schema_context(alpha.schema_name), mock.patch.object(
        connections["default"], "in_atomic_block", False
    ):
        # then the recorder refuses: an event must share the transaction of its change
        with pytest.raises(RuntimeError, match="inside the transaction"):
            record_event(actor=None, action="x")
