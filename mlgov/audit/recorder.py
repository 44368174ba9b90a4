"""Writing audit events. Called by every write service inside its own transaction."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from mlgov.api.request_id import current_request_context
from mlgov.audit.chain import GENESIS_HASH, canonical_payload, event_hash
from mlgov.audit.models import AuditEvent

# One advisory-lock key space for the chain of each schema; the lock serialises
# writers so concurrent transactions still build one linear chain.
_LOCK_NAMESPACE = 0x6D6C67  # "mlg"


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


def record_event(
    *,
    actor: Any,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Append one event to the current schema's chain; must run inside the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("record_event must run inside the transaction of the change it records")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", [_LOCK_NAMESPACE]
        )
    last = AuditEvent.objects.order_by("-sequence").values("sequence", "event_hash").first()
    sequence = (last["sequence"] + 1) if last else 1
    previous = last["event_hash"] if last else GENESIS_HASH
    context = current_request_context()
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    actor_username = getattr(actor, "username", "") or ("system" if actor is None else "")
    fields = dict(
        sequence=sequence,
        occurred_at=timezone.now(),
        actor_id=actor_id,
        actor_username=actor_username,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=_jsonable(before),
        after=_jsonable(after),
        request_id=context.request_id if context else "",
        ip_address=context.ip_address if context else None,
    )
    digest = event_hash(previous, canonical_payload(**fields))
    return AuditEvent.objects.create(previous_hash=previous, event_hash=digest, **fields)


def record_event_atomically(**kwargs: Any) -> AuditEvent:
    """For events that are their own change (a login failure, a download)."""
    with transaction.atomic():
        return record_event(**kwargs)
