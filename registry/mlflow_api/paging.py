"""Opaque page tokens: signed, bound to the query they page, never trusted as given.

A token carries an offset (searches) or a keyset position (metric history) and a short
fingerprint of the query that issued it; it is signed with Django's signing (salted for
this API), so a client can neither forge a position nor reuse a token on another query.
Anything else is INVALID_PARAMETER_VALUE, never a 500.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core import signing

from registry.mlflow_api.errors import invalid

_SALT = "mlgov.mlflow_api.page_token"
MAX_TOKEN_LENGTH = 500


def query_fingerprint(*parts: Any) -> str:
    """A short digest of what a page token belongs to (endpoint, filter, order, scope)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def token_make(position: dict, fingerprint: str) -> str:
    return signing.dumps({"p": position, "q": fingerprint}, salt=_SALT, compress=True)


def token_read(token: str | None, fingerprint: str) -> dict | None:
    """The position a token names, or None for no token; refused if forged or foreign."""
    if not token:
        return None
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise invalid("Invalid page token.")
    try:
        body = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        raise invalid("Invalid page token.") from None
    if not isinstance(body, dict) or body.get("q") != fingerprint:
        raise invalid("The page token belongs to another query.")
    position = body.get("p")
    if not isinstance(position, dict):
        raise invalid("Invalid page token.")
    return position


def offset_from(token: str | None, fingerprint: str) -> int:
    position = token_read(token, fingerprint)
    if position is None:
        return 0
    offset = position.get("offset")
    if not isinstance(offset, int) or offset < 0:
        raise invalid("Invalid page token.")
    return offset


def page_size(raw: Any, *, default: int, maximum: int, hard_limit: int | None = None) -> int:
    """`max_results` as a page size: at most `maximum` rows are read per request whatever a
    client asks (it follows next_page_token for the rest); past `hard_limit` it is refused
    as MLflow refuses it."""
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid(f"max_results must be an integer, got {raw!r}.") from None
    if value < 1 or (hard_limit is not None and value > hard_limit):
        limit = hard_limit or maximum
        raise invalid(f"max_results must be between 1 and {limit}, got {value}.")
    return min(value, maximum)


def slice_page(queryset_or_list, offset: int, size: int, fingerprint: str):
    """(rows, next token or None): one extra row is read to know whether more follow."""
    rows = list(queryset_or_list[offset : offset + size + 1])
    more = len(rows) > size
    token = token_make({"offset": offset + size}, fingerprint) if more else None
    return rows[:size], token
