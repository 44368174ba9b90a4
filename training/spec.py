"""A training spec: what to learn from a dataset version and how hard to search.

Parsed from the JSON a user submits; every problem is a SpecError with a stable code
and the field it concerns, so the API answers 400 with something a person can fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_TRIALS = 500
MAX_FOLDS = 20


class SpecError(ValueError):
    def __init__(self, code: str, message: str, *, field_name: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field_name = field_name


@dataclass(frozen=True)
class TrainingSpec:
    target: str | None = None
    features: tuple[str, ...] | None = None  # None: every column but target and excluded
    sensitive_attributes: tuple[str, ...] = ()
    # Sensitive attributes are never features unless the spec says so; always kept
    # for evaluation (fairness reports need them).
    sensitive_as_features: bool = False
    exclude: tuple[str, ...] = ()
    trials: int = 10
    timeout_seconds: int | None = None
    folds: int = 3
    seed: int = 0
    test_fraction: float = 0.2
    # task-specific
    time_column: str | None = None  # forecasting
    user_column: str | None = None  # recommendation
    item_column: str | None = None  # recommendation
    item_features: tuple[str, ...] = ()  # recommendation: content features of items
    top_k: int = 10
    lags: tuple[int, ...] = (1, 2, 3, 7)
    extra: dict[str, Any] = field(default_factory=dict)


def _str_tuple(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise SpecError("invalid_spec", f"{name} must be a list of column names", field_name=name)
    return tuple(value)


def _int(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(
            "invalid_spec", f"{name} must be an integer from {low} to {high}", field_name=name
        )
    return value


def parse_spec(raw: dict[str, Any], *, columns: list[str], needs_target: bool) -> TrainingSpec:
    """Validate `raw` against the dataset's `columns`."""
    if not isinstance(raw, dict):
        raise SpecError("invalid_spec", "the spec must be a JSON object")
    known = set(TrainingSpec.__dataclass_fields__) - {"extra"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SpecError("invalid_spec", f"unknown spec fields: {unknown}", field_name=unknown[0])
    target = raw.get("target")
    if needs_target and not target:
        raise SpecError("missing_target", "this recipe needs a target column", field_name="target")
    features = raw.get("features")
    spec = TrainingSpec(
        target=target,
        features=_str_tuple(features, "features") if features is not None else None,
        sensitive_attributes=_str_tuple(raw.get("sensitive_attributes"), "sensitive_attributes"),
        sensitive_as_features=bool(raw.get("sensitive_as_features", False)),
        exclude=_str_tuple(raw.get("exclude"), "exclude"),
        trials=_int(raw.get("trials"), "trials", 10, 1, MAX_TRIALS),
        timeout_seconds=(
            _int(raw.get("timeout_seconds"), "timeout_seconds", 0, 1, 24 * 3600)
            if raw.get("timeout_seconds") is not None
            else None
        ),
        folds=_int(raw.get("folds"), "folds", 3, 2, MAX_FOLDS),
        seed=_int(raw.get("seed"), "seed", 0, 0, 2**31 - 1),
        test_fraction=float(raw.get("test_fraction", 0.2)),
        time_column=raw.get("time_column"),
        user_column=raw.get("user_column"),
        item_column=raw.get("item_column"),
        item_features=_str_tuple(raw.get("item_features"), "item_features"),
        top_k=_int(raw.get("top_k"), "top_k", 10, 1, 1000),
        lags=tuple(_int(v, "lags", 1, 1, 10_000) for v in raw.get("lags", (1, 2, 3, 7))),
    )
    if not 0.05 <= spec.test_fraction <= 0.5:
        raise SpecError(
            "invalid_spec", "test_fraction must be within 0.05..0.5", field_name="test_fraction"
        )
    named = [spec.target, spec.time_column, spec.user_column, spec.item_column]
    named += list(spec.features or ()) + list(spec.sensitive_attributes) + list(spec.exclude)
    named += list(spec.item_features)
    missing = sorted({name for name in named if name and name not in columns})
    if missing:
        raise SpecError(
            "unknown_column", f"columns not in the dataset: {missing}", field_name="features"
        )
    return spec


def feature_columns(spec: TrainingSpec, columns: list[str]) -> list[str]:
    """The model's input columns: sensitive attributes only if the spec asks for them."""
    if spec.features is not None:
        chosen = list(spec.features)
    else:
        dropped = {spec.target, spec.time_column, spec.user_column, spec.item_column}
        dropped |= set(spec.exclude)
        chosen = [c for c in columns if c not in dropped]
    if not spec.sensitive_as_features:
        chosen = [c for c in chosen if c not in spec.sensitive_attributes]
    return chosen
