"""Walking a loaded model: every object reachable from it, once, with a readable path."""

from __future__ import annotations

import functools
import types
from collections.abc import Iterator
from typing import Any

import numpy as np

from registry.model_files.errors import ModelFileRefused

DEFAULT_MAX_OBJECTS = 2_000_000
_ATOMS = (str, bytes, bytearray, int, float, complex, bool, type(None), np.generic)
_NOT_DESCENDED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)


def iter_objects(root: Any, *, max_objects: int = DEFAULT_MAX_OBJECTS) -> Iterator[tuple[str, Any]]:
    """Yield `(path, obj)` for `root` and everything reachable through attributes,
    containers and object arrays. Raises ModelFileRefused past `max_objects`."""
    seen: set[int] = set()
    pending: list[tuple[str, Any]] = [("model", root)]
    while pending:
        path, obj = pending.pop()
        if isinstance(obj, _ATOMS) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if len(seen) > max_objects:
            raise ModelFileRefused(f"the model holds more than {max_objects} objects")
        yield path, obj
        pending.extend(_children(path, obj))


def _children(path: str, obj: Any) -> list[tuple[str, Any]]:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            return [(f"{path}[{index}]", item) for index, item in np.ndenumerate(obj)]
        return []
    if isinstance(obj, dict):
        return [(f"{path}[{key!r}]", value) for key, value in obj.items()] + [
            (f"{path}.<key>", key) for key in obj if not isinstance(key, _ATOMS)
        ]
    if isinstance(obj, list | tuple | set | frozenset):
        return [(f"{path}[{index}]", item) for index, item in enumerate(obj)]
    if isinstance(obj, functools.partial):
        return [(f"{path}.func", obj.func), (f"{path}.args", obj.args),
                (f"{path}.keywords", obj.keywords)]  # fmt: skip
    if isinstance(obj, _NOT_DESCENDED):
        return []
    attributes = getattr(obj, "__dict__", None)
    if isinstance(attributes, dict):
        return [(f"{path}.{name}", value) for name, value in attributes.items()]
    return []
