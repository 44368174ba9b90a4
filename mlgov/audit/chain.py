"""Canonical hashing of audit events: SHA-256 over the previous hash and the event's JSON.

An event's hash is `sha256(previous_hash + canonical_payload)`, both as ASCII bytes.
The canonical payload is the event's fields as one JSON object: keys sorted, no
whitespace, ASCII only (`canonical_payload` is the definition).

`sequence` sorts last among the keys, so the payload is `canonical_prefix(...)`
followed by the sequence number and `}`. The recorder sends the prefix to PostgreSQL,
which appends the number it assigns under the chain lock (recorder.py); the verifier
builds the same prefix from each stored row (verify.py). Tests hold the prefix to the
definition.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64

# What json.dumps(sort_keys=True, separators=(",", ":"), default=str) does, built once:
# json.dumps builds a new encoder on every call with non-default options, and
# JSONEncoder.encode builds a new C encoder on every call. No circular-reference check
# (markers=None): values come from json.loads, which cannot make cycles.
_quote = json.encoder.encode_basestring_ascii  # json.dumps() of a str, in C
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encode = (
    _c_make_encoder(None, str, _quote, None, ":", ",", True, False, True)
    if _c_make_encoder is not None
    else None
)
# The C scanner behind json.loads, without its whitespace handling: jsonb's text output
# starts with the value.
_scan = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]


def canonical_payload(
    *,
    sequence: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_username: str,
    action: str,
    object_type: str,
    object_id: str,
    before: Any,
    after: Any,
    request_id: str,
    ip_address: str | None,
) -> bytes:
    """The event's canonical JSON: the definition every other encoding must equal."""
    body = {
        "sequence": sequence,
        "occurred_at": occurred_at.isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_username": actor_username,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": before,
        "after": after,
        "request_id": request_id,
        "ip_address": ip_address,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def canonical_json(value: Any) -> str:
    """`value` as canonical JSON (sorted keys, no whitespace, ASCII): how before/after hash."""
    if _c_encode is None:
        return _ENCODER.encode(value)
    return "".join(_c_encode(value, 0))


def json_scanner() -> Callable[[str, int], tuple[Any, int]]:
    """`scan(text, 0)[0]` parses a JSON document that starts at its first character."""
    return _scan


def json_encoder() -> Callable[[Any, int], Sequence[str]]:
    """`"".join(encode(value, 0))` is `canonical_json(value)`."""
    if _c_encode is None:
        return lambda value, _level: (_ENCODER.encode(value),)
    return _c_encode


def canonical_json_from_text(text: str | None) -> str:
    """Canonical JSON of a JSON document read back from PostgreSQL (SQL NULL as `null`)."""
    if text is None:
        return "null"
    return canonical_json(_scan(text, 0)[0])


def canonical_prefix(
    *,
    occurred_at: datetime,
    actor_id: int | None,
    actor_username: str,
    action: str,
    object_type: str,
    object_id: str,
    before_json: str,
    after_json: str,
    request_id: str,
    ip_address: str | None,
) -> str:
    """The canonical payload up to and including `"sequence":`, with before and after
    given as `canonical_json` text. Append `f"{sequence}}}"` for the whole payload."""
    return prefix_from_parts(
        occurred_at.isoformat(timespec="microseconds"),
        actor_id,
        actor_username,
        action,
        object_type,
        object_id,
        before_json,
        after_json,
        request_id,
        ip_address,
    )


def prefix_from_parts(
    occurred_at_iso: str,
    actor_id: int | None,
    actor_username: str,
    action: str,
    object_type: str,
    object_id: str,
    before_json: str,
    after_json: str,
    request_id: str,
    ip_address: str | None,
) -> str:
    """`canonical_prefix` from the time already in ISO 8601 (microseconds, with offset);
    positional, for the verifier's loop."""
    return (
        f'{{"action":{_quote(action)}'
        f',"actor_id":{"null" if actor_id is None else int(actor_id)}'
        f',"actor_username":{_quote(actor_username)}'
        f',"after":{after_json}'
        f',"before":{before_json}'
        f',"ip_address":{"null" if ip_address is None else _quote(ip_address)}'
        f',"object_id":{_quote(object_id)}'
        f',"object_type":{_quote(object_type)}'
        f',"occurred_at":{_quote(occurred_at_iso)}'
        f',"request_id":{_quote(request_id)}'
        ',"sequence":'
    )


def event_hash(previous_hash: str, payload: bytes) -> str:
    """The hash an event with this payload stores, following `previous_hash`."""
    return hashlib.sha256(previous_hash.encode() + payload).hexdigest()
