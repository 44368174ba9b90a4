"""The byte layout of one array payload in a joblib stream, computed as joblib reads it.

`NumpyArrayWrapper.read_array` (joblib/numpy_pickle.py) reads, right after the wrapper's
BUILD: for an object dtype, a nested pickle; otherwise an optional padding-length byte
and that many padding bytes (only when the wrapper has a non-None
`numpy_array_alignment_bytes` attribute), then `prod(shape) * dtype.itemsize` raw bytes.
The scanner must agree with that to the byte, so the dtype is rebuilt with numpy itself
from the literal arguments and state in the stream (`numpy.dtype(str, bool, bool)` and
`__setstate__`, the calls unpickling makes), never from anything computed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from registry.model_files.pickle_values import Instance

_INT64_MAX = 2**63 - 1
_DTYPE_SPEC = re.compile(r"[<>|=]?[a-zA-Z][a-zA-Z0-9]{0,12}")
_MAX_NESTING = 16
_ABSENT = object()


class ArrayLayoutError(ValueError):
    """The wrapper's attributes do not describe an array joblib could read."""


@dataclass(frozen=True)
class ArrayLayout:
    """`length` bytes of raw payload follow, or a nested pickle when `nested_pickle`."""

    length: int
    nested_pickle: bool


def array_payload_layout(attrs: dict[str, Any], data: bytes, offset: int) -> ArrayLayout:
    """The payload that follows a wrapper BUILD ending at `offset` in `data`."""
    for required in ("shape", "order", "dtype"):
        if required not in attrs:
            raise ArrayLayoutError(f"the wrapper has no {required!r}")
    shape = attrs["shape"]
    if not isinstance(shape, tuple | list) or not all(
        type(dim) is int and dim >= 0 for dim in shape
    ):
        raise ArrayLayoutError("shape is not a sequence of non-negative integers")
    if attrs["order"] not in ("C", "F"):
        raise ArrayLayoutError("order is neither 'C' nor 'F'")
    dtype = concrete_dtype(attrs["dtype"])
    if dtype.hasobject:
        return ArrayLayout(0, nested_pickle=True)
    count = 1
    for dim in shape:
        count *= dim
    if count > _INT64_MAX:
        raise ArrayLayoutError("element count overflows")
    length = count * dtype.itemsize
    if attrs.get("numpy_array_alignment_bytes", _ABSENT) not in (None, _ABSENT):
        if offset >= len(data):
            raise ArrayLayoutError("padding byte missing")
        length += 1 + data[offset]
    if offset + length > len(data):
        raise ArrayLayoutError(f"{length} bytes of array data announced, fewer remain")
    return ArrayLayout(length, nested_pickle=False)


def concrete_dtype(value: Any, depth: int = 0) -> np.dtype:
    """The numpy dtype a symbolic `numpy.dtype(...)` + BUILD value stands for."""
    if depth > _MAX_NESTING:
        raise ArrayLayoutError("dtype nested too deeply")
    if not (
        isinstance(value, Instance)
        and value.kind == "dtype"
        and value.maker is not None
        and value.maker.allowed
    ):
        raise ArrayLayoutError("dtype is not a numpy.dtype built from literals")
    cached = value.attrs.get("concrete")
    if isinstance(cached, np.dtype):
        return cached
    args = value.args
    if not (
        1 <= len(args) <= 3
        and type(args[0]) is str
        and _DTYPE_SPEC.fullmatch(args[0])
        and all(type(flag) is bool for flag in args[1:])
    ):
        raise ArrayLayoutError("dtype arguments are not numpy's (spec, align, copy)")
    try:
        dtype = np.dtype(*args)
        if value.state is not None:
            state = _literal(value.state, depth)
            if not isinstance(state, tuple):
                raise ArrayLayoutError("dtype state is not a tuple")
            dtype.__setstate__(state)
    except ArrayLayoutError:
        raise
    except Exception as error:  # noqa: BLE001 - numpy's own refusal of the state
        raise ArrayLayoutError(f"dtype does not rebuild: {error}") from None
    value.attrs["concrete"] = dtype
    return dtype


def _literal(value: Any, depth: int) -> Any:
    """Plain data (with nested dtypes made concrete) or ArrayLayoutError."""
    if depth > _MAX_NESTING:
        raise ArrayLayoutError("dtype state nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, tuple):
        return tuple(_literal(item, depth + 1) for item in value)
    if isinstance(value, list):
        return [_literal(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_literal(key, depth + 1): _literal(item, depth + 1) for key, item in value.items()}
    if isinstance(value, Instance):
        return concrete_dtype(value, depth + 1)
    raise ArrayLayoutError(f"unexpected {type(value).__name__} in dtype state")
