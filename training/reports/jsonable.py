"""Plain JSON values for reports: Python numbers, strings, lists and dicts only.

Reports are stored as JSON (PostgreSQL jsonb refuses NaN and Infinity) and hashed for the
audit chain, so every number that is not finite becomes null, and numpy scalars become
Python ones; the same report then always serialises to the same bytes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def number(value: Any) -> float | None:
    """A finite float, or None for NaN, infinities and None."""
    if value is None:
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def label(value: Any) -> str | int | float | bool | None:
    """A group or class label as a JSON scalar (numpy scalars unwrapped, others as text)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def plain(value: Any) -> Any:
    """`value` with numpy arrays and scalars turned into JSON values, recursively."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return [plain(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def floats(values: Any) -> list[float | None]:
    """A 1-d float array as a list, non-finite entries as None."""
    array = np.asarray(values, dtype=float).ravel()
    out: list[float | None] = array.tolist()
    if not np.isfinite(array).all():
        out = [v if math.isfinite(v) else None for v in out]
    return out
