"""MLflow's search filters as Django Q objects, per resource (a `SearchSpec`).

The grammar and its parser live in search_grammar.py; this module checks each parsed
condition against what a resource can be searched by (attributes with their types,
metrics, params, tags, dataset fields), and builds the Q objects and ORDER BY terms. A
filter that names something unknown or compares a number with a string is a
FilterInvalid, which the views answer with INVALID_PARAMETER_VALUE (400): never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Q

from registry.mlflow_api.search_grammar import (
    NUMERIC_ONLY,
    Condition,
    FilterInvalid,
    OrderTerm,
    parse_filter,
    parse_order_by,
)

__all__ = [
    "Condition", "Field", "FilterInvalid", "OrderTerm", "SearchSpec", "compare",
    "condition_q", "filter_q", "like_regex", "literal_regex", "matches", "order_expressions",
    "parse_filter", "parse_order_by",
]


# --- conditions as Q objects -------------------------------------------------------------


def _literal(char: str) -> str:
    return char if char.isalnum() or char == " " else "\\" + char


def literal_regex(text: str) -> str:
    """`text` as a regex matching exactly it, for Python and PostgreSQL alike (a backslash
    before any non-alphanumeric character makes it literal in both)."""
    return "".join(_literal(char) for char in text)


def like_regex(pattern: str) -> str:
    """A SQL LIKE pattern (% any run, _ one character) as an anchored regex that means the
    same to Python and to PostgreSQL."""
    mapped = {"%": ".*", "_": "."}
    return "^" + "".join(mapped.get(char) or _literal(char) for char in pattern) + "$"


_LOOKUPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "IN": "in"}


def compare(path: str, op: str, value: Any) -> Q:
    """`path <op> value` as a Q; `!=` and NOT IN are the negations of = and IN."""
    if op in _LOOKUPS:
        return Q(**{f"{path}__{_LOOKUPS[op]}": value})
    if op == "!=":
        return ~Q(**{f"{path}__exact": value})
    if op == "NOT IN":
        return ~Q(**{f"{path}__in": value})
    if op == "LIKE":
        return Q(**{f"{path}__regex": like_regex(value)})
    if op == "ILIKE":
        return Q(**{f"{path}__iregex": like_regex(value)})
    raise FilterInvalid(f"Comparator {op} is not supported here.")


@dataclass(frozen=True)
class Field:
    """A searchable attribute: its kind, the model field path, and a value conversion."""

    kind: str  # "string" or "number"
    path: str
    convert: Callable[[Any], Any] = lambda value: value
    ops: frozenset[str] | None = None  # None: every comparator valid for the kind


# A keyed entity (metric, param, tag, dataset field): key, op, value -> Q.
KeyedBuilder = Callable[[str, str, Any], Q]


@dataclass
class SearchSpec:
    """What one resource can be searched and ordered by."""

    name: str
    attributes: dict[str, Field]
    keyed: dict[str, tuple[str, KeyedBuilder]] = field(default_factory=dict)  # kind, builder
    aliases: dict[str, str] = field(default_factory=dict)  # "created" -> "start_time"
    order_paths: dict[str, str] = field(default_factory=dict)  # attribute -> order path
    order_keyed: dict[str, Callable[[str], Any]] = field(default_factory=dict)


def _check_value(kind: str, condition: Condition) -> Any:
    op, value = condition.op, condition.value
    if op in ("IS NULL", "IS NOT NULL"):
        return None
    values = value if isinstance(value, tuple) else (value,)
    if kind == "number":
        if op in ("LIKE", "ILIKE", "IN", "NOT IN"):
            raise FilterInvalid(f"{op} compares strings; {condition.key!r} is a number.")
        if not all(isinstance(item, float) for item in values):
            raise FilterInvalid(f"{condition.key!r} is compared with a number, got {value!r}.")
    else:
        if op in NUMERIC_ONLY:
            raise FilterInvalid(f"{op} compares numbers; {condition.key!r} is a string.")
        if not all(isinstance(item, str) for item in values):
            raise FilterInvalid(f"{condition.key!r} is compared with a quoted string.")
    return value


def condition_q(spec: SearchSpec, condition: Condition) -> Q:
    if condition.entity == "attribute":
        key = spec.aliases.get(condition.key, condition.key)
        attribute = spec.attributes.get(key)
        if attribute is None:
            raise FilterInvalid(
                f"Invalid attribute {condition.key!r} for {spec.name}; searchable: "
                f"{sorted(spec.attributes)}."
            )
        if condition.op in ("IS NULL", "IS NOT NULL"):
            return Q(**{f"{attribute.path}__isnull": condition.op == "IS NULL"})
        if attribute.ops is not None and condition.op not in attribute.ops:
            raise FilterInvalid(f"{condition.op} is not supported for {condition.key!r}.")
        value = _check_value(attribute.kind, condition)
        if isinstance(value, tuple):
            value = tuple(attribute.convert(item) for item in value)
        else:
            value = attribute.convert(value)
        return compare(attribute.path, condition.op, value)
    keyed = spec.keyed.get(condition.entity)
    if keyed is None:
        raise FilterInvalid(f"{condition.entity}s are not searchable for {spec.name}.")
    kind, build = keyed
    return build(condition.key, condition.op, _check_value(kind, condition))


def filter_q(spec: SearchSpec, text: str | None) -> Q:
    """The whole filter string as one Q (AND of its conditions)."""
    result = Q()
    for condition in parse_filter(text):
        result &= condition_q(spec, condition)
    return result


def order_expressions(spec: SearchSpec, items: Iterable[str] | None, default: list) -> list:
    """order_by clauses as ORDER BY expressions (NULLs last either way, like MLflow), with
    `default` appended as the tie-breaker that makes offsets stable."""
    expressions = []
    for term in parse_order_by(items):
        if term.entity == "attribute":
            key = spec.aliases.get(term.key, term.key)
            path = spec.order_paths.get(key)
            if path is None:
                raise FilterInvalid(
                    f"Invalid order_by attribute {term.key!r}; use one of "
                    f"{sorted(spec.order_paths)}."
                )
            target: Any = F(path)
        elif term.entity in spec.order_keyed:
            target = spec.order_keyed[term.entity](term.key)
        else:
            raise FilterInvalid(f"Cannot order {spec.name} by {term.entity}s.")
        expressions.append(
            target.asc(nulls_last=True) if term.ascending else target.desc(nulls_last=True)
        )
    return expressions + default


# --- conditions on plain values (logged models live in run records, not columns) ----------


def matches(condition: Condition, actual: Any, *, kind: str) -> bool:
    """Evaluate one condition against a value held in Python (None: absent)."""
    value = _check_value(kind, condition)
    op = condition.op
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        return False
    if kind == "number":
        try:
            actual = float(actual)
        except (TypeError, ValueError):
            return False
    else:
        actual = str(actual)
    if op == "IN":
        return actual in value
    if op == "NOT IN":
        return actual not in value
    if op == "LIKE":
        return re.match(like_regex(value), actual, re.DOTALL) is not None
    if op == "ILIKE":
        return re.match(like_regex(value), actual, re.DOTALL | re.IGNORECASE) is not None
    return {
        "=": actual == value,
        "!=": actual != value,
        "<": actual < value,
        "<=": actual <= value,
        ">": actual > value,
        ">=": actual >= value,
    }[op]
