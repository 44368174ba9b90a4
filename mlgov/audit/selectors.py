"""Reads of the audit log of the current schema, restricted to users who may read it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, Q, QuerySet

from mlgov.audit.models import AuditEvent

VIEW_PERMISSION = "audit.view_auditlog"
VERIFY_PERMISSION = "audit.verify_auditlog"

_MAX_BIGINT = 2**63 - 1


@dataclass(frozen=True)
class AuditFilters:
    """What an auditor narrows the log to; every field is optional.

    `actor` is a username or a user id; `action` is exact, or a prefix when it ends in
    `.` or `*` (`member.` and `member.*` both match `member.create`); the time range is
    half-open: `occurred_from <= occurred_at < occurred_to`.
    """

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


@dataclass(frozen=True)
class ChainHead:
    sequence: int
    event_hash: str


def _filtered(queryset: QuerySet[AuditEvent], filters: AuditFilters) -> QuerySet[AuditEvent]:
    if filters.actor:
        by_actor = Q(actor_username=filters.actor)
        if filters.actor.isdigit() and int(filters.actor) <= _MAX_BIGINT:
            by_actor |= Q(actor_id=int(filters.actor))
        queryset = queryset.filter(by_actor)
    if filters.action:
        if filters.action.endswith("*"):
            queryset = queryset.filter(action__startswith=filters.action[:-1])
        elif filters.action.endswith("."):
            queryset = queryset.filter(action__startswith=filters.action)
        else:
            queryset = queryset.filter(action=filters.action)
    if filters.object_type:
        queryset = queryset.filter(object_type=filters.object_type)
    if filters.object_id:
        queryset = queryset.filter(object_id=filters.object_id)
    if filters.occurred_from is not None:
        queryset = queryset.filter(occurred_at__gte=filters.occurred_from)
    if filters.occurred_to is not None:
        queryset = queryset.filter(occurred_at__lt=filters.occurred_to)
    return queryset


def audit_event_list(*, acting_user, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Events of the current schema matching `filters`, newest first; none for a user
    without `audit.view_auditlog`."""
    if not acting_user.has_perm(VIEW_PERMISSION):
        return AuditEvent.objects.none()
    return _filtered(AuditEvent.objects.all(), filters).order_by("-sequence")


def audit_event_batches(
    *, acting_user, filters: AuditFilters, columns: tuple[str, ...], batch_size: int = 2_000
) -> Iterator[list[tuple]]:
    """Events matching `filters` in chain order, as `columns` tuples, `batch_size` at a
    time (keyset pagination on `sequence`: each batch is one short query, so a slow
    reader holds no transaction open). Bounded by the head at the first batch.
    `columns` must start with `sequence`."""
    if columns[0] != "sequence":
        raise ValueError("columns must start with 'sequence' (the keyset)")
    queryset = audit_event_list(acting_user=acting_user, filters=filters).order_by("sequence")
    upto = queryset.aggregate(upto=Max("sequence"))["upto"]
    if upto is None:
        return
    after = 0
    while after < upto:
        batch = list(
            queryset.filter(sequence__gt=after, sequence__lte=upto).values_list(*columns)[
                :batch_size
            ]
        )
        if not batch:
            return
        yield batch
        after = batch[-1][0]


def chain_head() -> ChainHead | None:
    """The newest event of the current schema's chain (sequence and hash), or None."""
    row = AuditEvent.objects.order_by("-sequence").values_list("sequence", "event_hash").first()
    return ChainHead(*row) if row else None
