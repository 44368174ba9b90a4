"""Token scopes are ordered: admin includes write, write includes read."""

from __future__ import annotations

SCOPE_ORDER = {"read": 0, "write": 1, "admin": 2}


def scope_allows(granted: str, required: str) -> bool:
    return SCOPE_ORDER[granted] >= SCOPE_ORDER[required]
