"""The symbolic values the pickle scanner keeps on its stack and memo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Global:
    """A name pushed by GLOBAL / STACK_GLOBAL / INST, with the allow-list's verdict."""

    module: str
    name: str
    allowed: bool

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Instance:
    """A value some call would produce; identity matters (the memo can share it).

    `kind` marks the values the scanner follows: 'wrapper' (a joblib array placeholder,
    whose `attrs` BUILD fills in), 'dtype' (`numpy.dtype(*args)` then BUILD `state`),
    'partial', 'array'; everything else is 'object'.
    """

    maker: Global | None
    args: tuple[Any, ...] = ()
    kind: str = "object"
    attrs: dict[str, Any] = field(default_factory=dict)
    state: Any = None


class Opaque:
    """A value whose content the scan does not need (large bytes, buffers)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}>"
