"""The value half of the symbolic unpickler: stack, marks, memo, framing, plain values
and containers, mirroring `pickle._Unpickler` opcode by opcode. `pickle_scan` adds the
half that matters for safety (names, calls, BUILD, joblib arrays)."""

from __future__ import annotations

import io
from typing import Any

from registry.model_files.errors import ModelFileRefused
from registry.model_files.pickle_values import Global, Instance, Opaque

_HIGHEST_PROTOCOL = 5
_SMALL_BYTES = 64  # keep short byte strings as values; larger ones only as a marker
_MARK_MISSING = "pickle is malformed: no MARK on the stack"


class StackMachine:
    """Stack, memo and value opcodes of one pickle stream; `_op_<NAME>(arg, pos)` each."""

    def __init__(self, data: bytes, stream: io.BytesIO, offending: list[str]) -> None:
        self.data = data
        self.stream = stream
        self.offending = offending
        self.proto = 0
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.frame_end: int | None = None

    def _offend(self, what: str, pos: int, reason: str) -> None:
        self.offending.append(f"{what} (byte {pos}): {reason}")

    # -- stack helpers (as pickle._Unpickler) -------------------------------------------------

    def _push(self, value: Any) -> None:
        self.stack.append(value)

    def _pop(self) -> Any:
        if not self.stack:
            raise ModelFileRefused("pickle is malformed: stack underflow")
        return self.stack.pop()

    def _top(self) -> Any:
        if not self.stack:
            raise ModelFileRefused("pickle is malformed: stack underflow")
        return self.stack[-1]

    def _pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise ModelFileRefused(_MARK_MISSING)
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # -- framing and protocol -------------------------------------------------------------

    def _op_PROTO(self, arg: int, pos: int) -> None:
        if not 0 <= arg <= _HIGHEST_PROTOCOL:
            raise ModelFileRefused(f"unsupported pickle protocol {arg}")
        self.proto = arg

    def _op_FRAME(self, arg: int, pos: int) -> None:
        if self.frame_end is not None and pos < self.frame_end:
            raise ModelFileRefused(f"pickle is malformed: frame inside a frame (byte {pos})")
        end = self.stream.tell() + arg
        if end > len(self.data):
            raise ModelFileRefused(f"pickle is malformed: frame runs past the end (byte {pos})")
        self.frame_end = end

    # -- plain values -------------------------------------------------------------------------

    def _op_value(self, arg: Any, pos: int) -> None:
        self._push(arg)

    _op_INT = _op_BININT = _op_BININT1 = _op_BININT2 = _op_value
    _op_LONG = _op_LONG1 = _op_LONG4 = _op_value
    _op_FLOAT = _op_BINFLOAT = _op_value
    _op_UNICODE = _op_SHORT_BINUNICODE = _op_BINUNICODE = _op_BINUNICODE8 = _op_value

    def _op_STRING(self, arg: str, pos: int) -> None:
        # Python 2 str: the unpickler decodes it as ASCII (its default) or fails
        if not isinstance(arg, str) or not arg.isascii():
            raise ModelFileRefused(f"pickle is malformed: non-ASCII py2 string (byte {pos})")
        self._push(arg)

    _op_BINSTRING = _op_SHORT_BINSTRING = _op_STRING

    def _op_bytes(self, arg: bytes, pos: int) -> None:
        self._push(arg if len(arg) <= _SMALL_BYTES else Opaque("bytes"))

    _op_BINBYTES = _op_SHORT_BINBYTES = _op_BINBYTES8 = _op_bytes

    def _op_BYTEARRAY8(self, arg: Any, pos: int) -> None:
        self._push(Opaque("bytearray"))

    def _op_NEXT_BUFFER(self, arg: None, pos: int) -> None:
        raise ModelFileRefused(f"out-of-band buffers are not supported (byte {pos})")

    def _op_READONLY_BUFFER(self, arg: None, pos: int) -> None:
        self._top()

    def _op_NONE(self, arg: None, pos: int) -> None:
        self._push(None)

    def _op_NEWTRUE(self, arg: None, pos: int) -> None:
        self._push(True)

    def _op_NEWFALSE(self, arg: None, pos: int) -> None:
        self._push(False)

    # -- containers -----------------------------------------------------------------------

    def _op_EMPTY_LIST(self, arg: None, pos: int) -> None:
        self._push([])

    def _op_EMPTY_TUPLE(self, arg: None, pos: int) -> None:
        self._push(())

    def _op_EMPTY_DICT(self, arg: None, pos: int) -> None:
        self._push({})

    def _op_EMPTY_SET(self, arg: None, pos: int) -> None:
        self._push(set())

    def _op_LIST(self, arg: None, pos: int) -> None:
        self._push(list(self._pop_mark()))

    def _op_TUPLE(self, arg: None, pos: int) -> None:
        self._push(tuple(self._pop_mark()))

    def _op_TUPLE1(self, arg: None, pos: int) -> None:
        self._push((self._pop(),))

    def _op_TUPLE2(self, arg: None, pos: int) -> None:
        second = self._pop()
        self._push((self._pop(), second))

    def _op_TUPLE3(self, arg: None, pos: int) -> None:
        third = self._pop()
        second = self._pop()
        self._push((self._pop(), second, third))

    def _op_DICT(self, arg: None, pos: int) -> None:
        items = self._pop_mark()
        self._push(dict(zip(items[::2], items[1::2], strict=True)))

    def _op_FROZENSET(self, arg: None, pos: int) -> None:
        self._push(frozenset(self._pop_mark()))

    def _mutable_target(self, expected: type, opname: str, pos: int) -> Any:
        target = self._top()
        if isinstance(target, expected) or (isinstance(target, Instance) and target.maker):
            return target
        # APPEND on a class would call an unbound method; on a tuple or str it fails anyway
        self._offend(opname, pos, f"applied to {describe(target)}")
        return None

    def _op_APPEND(self, arg: None, pos: int) -> None:
        value = self._pop()
        target = self._mutable_target(list, "APPEND", pos)
        if isinstance(target, list):
            target.append(value)

    def _op_APPENDS(self, arg: None, pos: int) -> None:
        items = self._pop_mark()
        target = self._mutable_target(list, "APPENDS", pos)
        if isinstance(target, list):
            target.extend(items)

    def _op_SETITEM(self, arg: None, pos: int) -> None:
        value = self._pop()
        key = self._pop()
        target = self._mutable_target(dict, "SETITEM", pos)
        if isinstance(target, dict):
            target[key] = value

    def _op_SETITEMS(self, arg: None, pos: int) -> None:
        items = self._pop_mark()
        target = self._mutable_target(dict, "SETITEMS", pos)
        if isinstance(target, dict):
            target.update(zip(items[::2], items[1::2], strict=True))

    def _op_ADDITEMS(self, arg: None, pos: int) -> None:
        items = self._pop_mark()
        target = self._mutable_target(set, "ADDITEMS", pos)
        if isinstance(target, set):
            target.update(items)

    # -- stack and memo -------------------------------------------------------------------

    def _op_POP(self, arg: None, pos: int) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()

    def _op_DUP(self, arg: None, pos: int) -> None:
        self._push(self._top())

    def _op_MARK(self, arg: None, pos: int) -> None:
        self.metastack.append(self.stack)
        self.stack = []

    def _op_POP_MARK(self, arg: None, pos: int) -> None:
        self._pop_mark()

    def _op_GET(self, arg: int, pos: int) -> None:
        if arg not in self.memo:
            raise ModelFileRefused(f"pickle is malformed: memo {arg} not set (byte {pos})")
        self._push(self.memo[arg])

    _op_BINGET = _op_LONG_BINGET = _op_GET

    def _op_PUT(self, arg: int, pos: int) -> None:
        if arg < 0:
            raise ModelFileRefused(f"pickle is malformed: negative memo index (byte {pos})")
        self.memo[arg] = self._top()

    _op_BINPUT = _op_LONG_BINPUT = _op_PUT

    def _op_MEMOIZE(self, arg: None, pos: int) -> None:
        self.memo[len(self.memo)] = self._top()


def describe(value: Any) -> str:
    if isinstance(value, Global):
        return f"the global {value.qualified}"
    if isinstance(value, Instance):
        return f"a value made by {value.maker.qualified}" if value.maker else "an unknown value"
    return f"a {type(value).__name__} value"
