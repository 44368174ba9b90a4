"""Verifying a schema's audit chain: walk it in order, recompute every hash, report the
first bad event.

What each finding means:

- `sequence_gap`: an event is missing (deleted), or the chain does not start at #1;
- `sequence_duplicate`: two events claim one position (one was inserted);
- `broken_link`: an event does not name the hash of the one before it (the one before
  was replaced, or events were inserted and renumbered);
- `hash_mismatch`: an event's content no longer matches its own hash (it was edited);
- `anchor_mismatch`: the event at the latest anchor's position no longer has the hash
  copied into `public` then (the chain was rewritten and re-hashed consistently);
- `anchor_beyond_head`: the chain ends before the latest anchor's position (events at
  its end were deleted).

Events appended after the latest anchor are only as good as the chain itself: a
consistent rewrite of them cannot be told apart until they are anchored.

The walk runs in one transaction (one snapshot) over a server-side cursor, fetching
`batch_size` rows at a time; memory stays flat whatever the chain's length. It reads
raw rows, not model instances or ORM values: at 200,000 events the ORM's per-row
conversions cost more than the hashing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from mlgov.audit import chain
from mlgov.audit.anchors import AnchorPoint
from mlgov.audit.chain import GENESIS_HASH
from mlgov.audit.models import AuditEvent

DEFAULT_BATCH_SIZE = 5_000

# Each row with its canonical prefix built by PostgreSQL around before and after (which
# Python re-encodes): `head` is `{"action":…,"after":`, `tail` is `,"ip_address":…,
# "sequence":`. PostgreSQL quotes the text fields and escapes `"` and `\` the way Python's
# json does; every other character Python escapes (controls, DEL, non-ASCII) is left for
# `_python_escapes`, which finds none in most rows. (to_json() would escape the controls
# too, but costs twice the whole query.) The time is formatted as Python's
# isoformat(timespec="microseconds") writes a UTC time (the recorder only writes UTC);
# abbrev() prints an address as inet does.
def _quoted(column: str) -> str:
    return f"""'"' || replace(replace({column}, '\\', '\\\\'), '"', '\\"') || '"'"""


_ROWS_SQL = f"""
SELECT id, sequence, previous_hash, event_hash,
       '{{"action":' || {_quoted("action")}
       || ',"actor_id":' || COALESCE(actor_id::text, 'null')
       || ',"actor_username":' || {_quoted("actor_username")}
       || ',"after":',
       after::text,
       before::text,
       ',"ip_address":' || COALESCE('"' || abbrev(ip_address) || '"', 'null')
       || ',"object_id":' || {_quoted("object_id")}
       || ',"object_type":' || {_quoted("object_type")}
       || ',"occurred_at":"'
       || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') || '"'
       || ',"request_id":' || {_quoted("request_id")}
       || ',"sequence":'
FROM {AuditEvent._meta.db_table}
ORDER BY sequence, id
"""
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


def _python_escape(match: re.Match) -> str:
    return json.encoder.py_encode_basestring_ascii(match.group())[1:-1]


def _python_escapes(fragment: str) -> str:
    """A fragment from `_ROWS_SQL` as Python's ASCII-only JSON writes it."""
    if fragment.isascii() and fragment.isprintable():
        return fragment
    return _NOT_PRINTABLE_ASCII.sub(_python_escape, fragment)


@dataclass(frozen=True)
class ChainFinding:
    """The first position where the chain stops being what was written."""

    sequence: int
    reason: str
    message: str
    event_id: int | None = None


@dataclass(frozen=True)
class ChainReport:
    """The outcome of one verification of one schema's chain."""

    schema_name: str
    events_verified: int
    # The last event found good: the head when the chain is whole.
    last_sequence: int | None
    last_hash: str | None
    anchor: AnchorPoint | None
    finding: ChainFinding | None

    @property
    def is_whole(self) -> bool:
        return self.finding is None

    @property
    def anchor_matches(self) -> bool | None:
        """Whether the latest anchor still matches the chain; None without an anchor."""
        if self.anchor is None:
            return None
        return self.finding is None or self.finding.reason not in _ANCHOR_REASONS

    def summary(self) -> str:
        if self.finding is None:
            anchored = (
                f", anchored at #{self.anchor.sequence}" if self.anchor is not None else ""
            )
            return f"chain whole: {self.events_verified} events{anchored}"
        return (
            f"chain broken at event #{self.finding.sequence} ({self.finding.reason}): "
            f"{self.finding.message}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The report as the API returns it."""
        anchor = None
        if self.anchor is not None:
            anchor = {
                "sequence": self.anchor.sequence,
                "event_hash": self.anchor.event_hash,
                "anchored_at": self.anchor.anchored_at,
                "matches": self.anchor_matches,
            }
        finding = None
        if self.finding is not None:
            finding = {
                "sequence": self.finding.sequence,
                "reason": self.finding.reason,
                "message": self.finding.message,
                "event_id": self.finding.event_id,
            }
        return {
            "whole": self.is_whole,
            "events_verified": self.events_verified,
            "last_verified": (
                None
                if self.last_sequence is None
                else {"sequence": self.last_sequence, "event_hash": self.last_hash}
            ),
            "anchor": anchor,
            "first_bad": finding,
            "summary": self.summary(),
        }


_ANCHOR_REASONS = frozenset({"anchor_mismatch", "anchor_beyond_head"})


def chain_verify(
    *, anchor: AnchorPoint | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> ChainReport:
    """Verify the chain of the current schema, and that it still matches `anchor`
    (the newest anchor of this schema, from `anchors.anchor_latest`)."""
    with transaction.atomic():  # one snapshot; a server-side cursor needs a transaction
        with connection.chunked_cursor() as cursor:
            cursor.execute(_ROWS_SQL)
            rows = _prefetched_rows(cursor.cursor, batch_size)
            try:
                return chain_walk(rows, anchor=anchor, schema_name=connection.schema_name)  # type: ignore[attr-defined]
            finally:
                rows.close()  # a walk stopped early ends its fetches inside the transaction


def _prefetched_rows(cursor, batch_size: int) -> Generator[tuple, None, None]:
    """The cursor's rows; the next batch is fetched by a helper thread while this one is
    checked. psycopg2 lets go of the GIL while it waits for the server, so PostgreSQL
    reads and formats batch n+1 while Python hashes batch n. Only the helper touches the
    (raw psycopg2) cursor until the generator ends."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-verify") as fetcher:
        pending = fetcher.submit(cursor.fetchmany, batch_size)
        while True:
            rows = pending.result()
            if not rows:
                return
            pending = fetcher.submit(cursor.fetchmany, batch_size)
            yield from rows


def chain_walk(
    rows: Iterable[tuple], *, anchor: AnchorPoint | None, schema_name: str
) -> ChainReport:
    """Check `rows` (the `_ROWS_SQL` columns, in sequence order) as one chain from genesis.
    Each payload is `chain.canonical_payload` of the row, assembled from its parts."""
    expected = 1
    previous = GENESIS_HASH
    finding: ChainFinding | None = None
    sha256 = hashlib.sha256
    scan, encode, join = chain.json_scanner(), chain.json_encoder(), "".join
    anchor_sequence = anchor.sequence if anchor is not None else None
    for event_id, sequence, previous_hash, stored_hash, head, after, before, tail in rows:
        if sequence != expected:
            finding = _sequence_finding(expected, sequence, event_id)
            break
        if previous_hash != previous:
            finding = ChainFinding(
                sequence,
                "broken_link",
                f"event #{sequence} does not follow event #{sequence - 1}: it names "
                f"{previous_hash[:12]}… as its predecessor, the chain has {previous[:12]}…",
                event_id,
            )
            break
        # Inlined (this loop is the verifier's cost): _python_escapes and
        # canonical_json_from_text, each on its common path.
        if not (head.isascii() and head.isprintable()):
            head = _python_escapes(head)
        if not (tail.isascii() and tail.isprintable()):
            tail = _python_escapes(tail)
        after = "null" if after is None else join(encode(scan(after, 0)[0], 0))
        before = "null" if before is None else join(encode(scan(before, 0)[0], 0))
        recomputed = sha256(
            f'{previous}{head}{after},"before":{before}{tail}{sequence}}}'.encode()
        ).hexdigest()
        if recomputed != stored_hash:
            finding = ChainFinding(
                sequence,
                "hash_mismatch",
                f"event #{sequence}'s content does not match its hash: it was altered",
                event_id,
            )
            break
        if sequence == anchor_sequence and stored_hash != anchor.event_hash:  # type: ignore[union-attr]
            finding = ChainFinding(
                sequence,
                "anchor_mismatch",
                f"event #{sequence} no longer has the hash anchored in public "
                f"({anchor.event_hash[:12]}…, now {stored_hash[:12]}…): "  # type: ignore[union-attr]
                "the chain was rewritten",
                event_id,
            )
            break
        previous = stored_hash
        expected += 1
    if finding is None and anchor is not None and anchor.sequence >= expected:
        finding = ChainFinding(
            expected,
            "anchor_beyond_head",
            f"the chain ends at event #{expected - 1} but event #{anchor.sequence} was "
            "anchored: events at its end were deleted",
        )
    verified = expected - 1
    return ChainReport(
        schema_name=schema_name,
        events_verified=verified,
        last_sequence=verified if verified else None,
        last_hash=previous if verified else None,
        anchor=anchor,
        finding=finding,
    )


def _sequence_finding(expected: int, found: int, event_id: int) -> ChainFinding:
    if found < expected:
        return ChainFinding(
            found,
            "sequence_duplicate",
            f"event #{found} appears more than once: an event was inserted",
            event_id,
        )
    missing = f"#{expected}" if found == expected + 1 else f"#{expected} to #{found - 1}"
    return ChainFinding(
        expected,
        "sequence_gap",
        f"event {missing} missing (the next event is #{found}): events were deleted",
        event_id,
    )
