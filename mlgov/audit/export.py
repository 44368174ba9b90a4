"""Exporting the audit log as CSV or JSON, streamed: one batch of rows in memory at a time.

Both formats carry the same columns in the same order (`EXPORT_COLUMNS`), in chain
order (oldest first). The JSON export is exact: with it anyone can recompute the hashes
(`mlgov.audit.chain`). The CSV export is for spreadsheets: a cell that a spreadsheet
would run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return; an
attacker chooses the user name of a failed sign-in) is prefixed with `'` (OWASP's
advice on CSV injection), and `before` and `after` are JSON text.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection
from django_tenants.utils import schema_context

from mlgov.audit.selectors import AuditFilters, audit_event_batches

EXPORT_COLUMNS = (
    "sequence", "occurred_at", "actor_id", "actor_username", "action", "object_type",
    "object_id", "before", "after", "request_id", "ip_address", "previous_hash", "event_hash",
)  # fmt: skip

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
EXPORT_FORMATS = tuple(CONTENT_TYPES)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BEFORE = EXPORT_COLUMNS.index("before")
_AFTER = EXPORT_COLUMNS.index("after")
_OCCURRED_AT = EXPORT_COLUMNS.index("occurred_at")


def audit_export_stream(
    *, acting_user, filters: AuditFilters, file_format: str, batch_size: int = 2_000
) -> Iterator[bytes]:
    """The matching events of the current schema as `file_format` (csv or json) bytes.

    The schema is taken now: a streaming response is read after the request's tenant
    middleware has switched the connection back to `public`.
    """
    if file_format not in CONTENT_TYPES:
        raise ValueError(f"unknown export format {file_format!r}")
    schema_name = connection.schema_name  # type: ignore[attr-defined]
    encode = _csv_chunks if file_format == "csv" else _json_chunks

    def stream() -> Iterator[bytes]:
        with schema_context(schema_name):
            batches = audit_event_batches(
                acting_user=acting_user,
                filters=filters,
                columns=EXPORT_COLUMNS,
                batch_size=batch_size,
            )
            yield from encode(batches)

    return stream()


class _Lines:
    """A file-like sink for csv.writer that keeps what it is given."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> bytes:
        data = "".join(self.parts).encode()
        self.parts.clear()
        return data


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_chunks(batches: Iterable[list[tuple]]) -> Iterator[bytes]:
    sink = _Lines()
    writer = csv.writer(sink)
    writer.writerow(EXPORT_COLUMNS)
    yield sink.take()
    for batch in batches:
        for row in batch:
            cells = list(row)
            cells[_OCCURRED_AT] = cells[_OCCURRED_AT].isoformat(timespec="microseconds")
            for index in (_BEFORE, _AFTER):
                value = cells[index]
                cells[index] = (
                    "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)
                )
            writer.writerow(["" if cell is None else _csv_cell(cell) for cell in cells])
        yield sink.take()


def _json_chunks(batches: Iterable[list[tuple]]) -> Iterator[bytes]:
    yield b"["
    separator = "\n"
    for batch in batches:
        parts = []
        for row in batch:
            event = dict(zip(EXPORT_COLUMNS, row, strict=True))
            event["occurred_at"] = event["occurred_at"].isoformat(timespec="microseconds")
            parts.append(separator + json.dumps(event, ensure_ascii=False))
            separator = ",\n"
        yield "".join(parts).encode()
    yield b"\n]\n"
