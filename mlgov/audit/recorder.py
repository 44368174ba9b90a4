"""Writing audit events. Called by every write service inside its own transaction.

One linear chain per schema, however many writers: a transaction-scoped advisory lock
serialises appends, and the lock is held until the writer's transaction ends, so the
next writer always sees the previous event.

Why it looks the way it does (measured with bench/audit.py, 8 writers, one tenant):

- The lock is held from the append to the commit, so the time between those two is the
  chain's throughput limit. The append is a single statement: it takes the lock, reads
  the head and inserts the event with its hash computed by PostgreSQL (`sha256` over
  the previous hash, the canonical prefix built here, and the sequence it assigns).
  Nothing goes back and forth while the lock is held.
- A synchronous commit waits for the WAL flush (about 0.5 ms on a cloud disk) while
  holding the lock, which capped the chain at ~650 commits/s whatever the code did.
  So the audited transaction commits with `synchronous_commit = off` (only that
  transaction): the lock is released as soon as the commit is in the WAL buffers.
  Right after the commit, before control returns to the caller, `_await_durable_commit`
  waits for a WAL flush that covers it. Concurrent writers share those flushes (group
  commit), so the caller still only sees success once its change is on disk.
  The cost: for about a millisecond other sessions can read a committed change that a
  crash would still lose. The chain stays consistent even then: the WAL is replayed in
  order, so an event cannot survive without every event before it.

Call `record_event` last in the transaction: the chain lock is held from there to the
commit.
"""

from __future__ import annotations

import ipaddress
import json
import math
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from mlgov.api.request_id import current_request_context
from mlgov.audit.chain import GENESIS_HASH, canonical_json, canonical_prefix
from mlgov.audit.models import AuditEvent

# One advisory-lock key space for the chain of each schema; the lock serialises
# writers so concurrent transactions still build one linear chain.
_LOCK_NAMESPACE = 0x6D6C67  # "mlg"

# Floats from 1e16 up are integers that PostgreSQL's jsonb prints without an exponent;
# read back they are ints, so they are stored (and hashed) as ints from the start.
_FLOAT_EXPONENT_FROM = 1e16

_TABLE = AuditEvent._meta.db_table
_COLUMNS = (
    "sequence", "occurred_at", "actor_id", "actor_username", "action", "object_type",
    "object_id", "before", "after", "request_id", "ip_address", "previous_hash", "event_hash",
)  # fmt: skip

# Three statements, one round trip. Under READ COMMITTED each statement takes its own
# snapshot, so the INSERT (taken after the lock is granted) sees the previous writer's
# committed event; in one statement it would not.
_APPEND_SQL = f"""
SET LOCAL synchronous_commit TO off;
SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()));
WITH head AS (
    SELECT sequence, event_hash FROM {_TABLE} ORDER BY sequence DESC LIMIT 1
), link AS (
    SELECT COALESCE((SELECT sequence FROM head), 0) + 1 AS sequence,
           COALESCE((SELECT event_hash FROM head), %s) AS previous_hash
)
INSERT INTO {_TABLE} ({", ".join(_COLUMNS)})
SELECT link.sequence, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s::inet,
       link.previous_hash,
       encode(sha256(convert_to(
           link.previous_hash || %s || link.sequence::text || '}}', 'UTF8')), 'hex')
FROM link
RETURNING id, sequence, previous_hash, event_hash
"""

# A transactional WAL record: its synchronous commit flushes the WAL up to itself, and
# so past the audited transaction's commit record (a transaction that writes no WAL of
# its own, such as `SELECT txid_current()`, commits without any flush).
_FLUSH_SQL = "SELECT pg_logical_emit_message(true, 'mlgov.audit', 'durable')"


def _clean_text(value: str) -> str:
    """Text PostgreSQL can store as given: no NUL, no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _normalise(value: Any) -> Any:
    """Make a JSON value read back from jsonb equal to itself, so its hash still holds."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)  # jsonb has no NaN or Infinity
        if value == 0:
            return 0.0  # jsonb has no -0.0
        if abs(value) >= _FLOAT_EXPONENT_FROM and value.is_integer():
            return int(value)
        return value
    if isinstance(value, dict):
        return {_clean_text(key): _normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    return value


_to_json = json.JSONEncoder(default=str).encode  # json.dumps(default=str), built once


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return _normalise(json.loads(_to_json(value)))


def _clean_ip(value: str | None) -> str | None:
    """The address as PostgreSQL's inet prints it back (Django's normal form), or None."""
    if not value:
        return None
    try:
        if ":" not in value:
            return str(ipaddress.IPv4Address(value))
        return clean_ipv6_address(value)
    except (ValueError, ValidationError):
        return None


def _await_durable_commit() -> None:
    """Return once the WAL is flushed past the audited transaction's commit."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(_FLUSH_SQL)


def _flush_after_commit(conn: BaseDatabaseWrapper) -> None:
    # One flush per transaction, however many events it records. A pending hook can only
    # be dropped by a rollback that drops this event too.
    pending = getattr(conn, "run_on_commit", ())
    if not any(hook[1] is _await_durable_commit for hook in pending):
        conn.on_commit(_await_durable_commit)


def record_event(
    *,
    actor: Any,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    before: Any = None,
    after: Any = None,
    actor_username: str | None = None,
) -> AuditEvent:
    """Append one event to the current schema's chain; must run inside the caller's
    transaction, as its last statement. `actor` is a user or None (the system);
    `actor_username` names an actor without a user (a failed sign-in)."""
    conn = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a context lookup
    if not conn.in_atomic_block:
        raise RuntimeError("record_event must run inside the transaction of the change it records")
    context = current_request_context()
    if actor_username is None:
        actor_username = getattr(actor, "username", "") or ("system" if actor is None else "")
    fields: dict[str, Any] = dict(
        occurred_at=timezone.now(),
        actor_id=getattr(actor, "pk", None) if actor is not None else None,
        actor_username=_clean_text(actor_username),
        action=_clean_text(action),
        object_type=_clean_text(object_type),
        object_id=_clean_text(str(object_id)),
        before=_jsonable(before),
        after=_jsonable(after),
        request_id=_clean_text(context.request_id) if context else "",
        ip_address=_clean_ip(context.ip_address) if context else None,
    )
    before_json = canonical_json(fields["before"])
    after_json = canonical_json(fields["after"])
    prefix = canonical_prefix(
        **{k: v for k, v in fields.items() if k not in ("before", "after")},
        before_json=before_json,
        after_json=after_json,
    )
    # Everything but the statement happens before it: from the statement to the commit,
    # this transaction holds the chain lock.
    event = AuditEvent(**fields)
    event._state.adding = False
    event._state.db = conn.alias
    _flush_after_commit(conn)
    with conn.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            [
                _LOCK_NAMESPACE,
                GENESIS_HASH,
                fields["occurred_at"],
                fields["actor_id"],
                fields["actor_username"],
                fields["action"],
                fields["object_type"],
                fields["object_id"],
                None if fields["before"] is None else before_json,
                None if fields["after"] is None else after_json,
                fields["request_id"],
                fields["ip_address"],
                prefix,
            ],
        )
        event.id, event.sequence, event.previous_hash, event.event_hash = cursor.fetchone()
    return event


def record_event_atomically(**kwargs: Any) -> AuditEvent:
    """For events that are their own change (a login failure, a download)."""
    with transaction.atomic():
        return record_event(**kwargs)
