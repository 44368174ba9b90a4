"""MLflow's search filter and order-by grammar: tokens and a recursive-descent parser.

    filter     := condition (AND condition)*
    condition  := identifier comparator value
                | identifier [NOT] IN '(' value (',' value)* ')'
                | identifier IS [NOT] NULL
    identifier := [entity '.'] key        entity: metric(s), param(s)/parameter(s), tag(s),
                                          attribute(s)/attr/run, dataset(s); none = attribute
    key        := name('.'name)* | `backticked` | "double quoted"
    comparator := = | != | <> | < | <= | > | >= | LIKE | ILIKE   (keywords in any case)
    value      := 'single quoted' | "double quoted" | number
    order_by   := identifier [ASC | DESC]

MLflow has no OR; neither has this. No SQL text is ever built from a filter: the parsed
conditions are turned into Django Q objects by search_filter.py. Anything that does not
parse is a FilterInvalid (INVALID_PARAMETER_VALUE at the API), never another error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_FILTER_LENGTH = 10_000
MAX_CONDITIONS = 100
MAX_IN_VALUES = 1_000

ENTITIES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}  # fmt: skip
COMPARATORS = ("=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE")
NUMERIC_ONLY = frozenset({"<", "<=", ">", ">="})


class FilterInvalid(ValueError):
    """The filter or order-by clause cannot be parsed or names something unknown."""


@dataclass(frozen=True)
class Condition:
    entity: str  # attribute | metric | param | tag | dataset
    key: str
    op: str  # a COMPARATOR, IN, NOT IN, IS NULL, IS NOT NULL
    value: Any = None  # str | float | tuple of those | None


@dataclass(frozen=True)
class OrderTerm:
    entity: str
    key: str
    ascending: bool


# --- tokens ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<single>'(?:[^']|'')*')
  | (?P<double>"(?:[^"]|"")*")
  | (?P<backtick>`[^`]*`)
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![\w.])
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][\w]*(?:\.[\w]+)*\.?)
  | (?P<dot>\.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FilterInvalid(f"Unexpected character {text[position]!r} at {position}.")
        position = match.end()
        if match.lastgroup != "ws":
            tokens.append(_Token(match.lastgroup or "", match.group()))
    return tokens


def _unquote(token: _Token) -> str:
    inner = token.text[1:-1]
    if token.kind == "single":
        return inner.replace("''", "'")
    if token.kind == "double":
        return inner.replace('""', '"')
    return inner  # backtick


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise FilterInvalid("The clause ends too early.")
        self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.upper() in words:
            self.index += 1
            return True
        return False

    def done(self) -> bool:
        return self.index >= len(self.tokens)

    # identifier := [entity '.'] key
    def identifier(self) -> tuple[str, str]:
        token = self.take()
        if token.kind == "name":
            if token.text.endswith("."):  # `metrics.` followed by a quoted key
                entity = token.text[:-1]
                if "." in entity:
                    raise FilterInvalid(f"Invalid identifier {token.text!r}.")
                quoted = self.take()
                if quoted.kind not in ("backtick", "double"):
                    raise FilterInvalid(f"Expected a quoted key after {token.text!r}.")
                return _entity(entity), _key(_unquote(quoted))
            if "." in token.text:
                entity, key = token.text.split(".", 1)
                return _entity(entity), _key(key)
            return "attribute", _key(token.text)
        if token.kind in ("backtick", "double"):
            following = self.peek()
            if following is not None and following.kind == "dot":
                self.index += 1
                key_token = self.take()
                if key_token.kind in ("backtick", "double"):
                    return _entity(_unquote(token)), _key(_unquote(key_token))
                if key_token.kind == "name" and not key_token.text.endswith("."):
                    return _entity(_unquote(token)), _key(key_token.text)
                raise FilterInvalid(f"Invalid key after {token.text}.")
            return "attribute", _key(_unquote(token))
        raise FilterInvalid(f"Expected an identifier, got {token.text!r}.")

    def value(self) -> str | float:
        token = self.take()
        if token.kind in ("single", "double"):
            return _unquote(token)
        if token.kind == "number":
            number = float(token.text)
            if not math.isfinite(number):
                raise FilterInvalid(f"Numbers must be finite, got {token.text!r}.")
            return number
        raise FilterInvalid(f"Expected a quoted string or a number, got {token.text!r}.")

    def condition(self) -> Condition:
        entity, key = self.identifier()
        if self.keyword("IS"):
            negated = self.keyword("NOT")
            if not self.keyword("NULL"):
                raise FilterInvalid("Expected NULL after IS.")
            return Condition(entity, key, "IS NOT NULL" if negated else "IS NULL")
        negated = self.keyword("NOT")
        if negated or self.keyword("IN"):
            if negated and not self.keyword("IN"):
                raise FilterInvalid("Expected IN after NOT.")
            return Condition(entity, key, "NOT IN" if negated else "IN", self.value_list())
        token = self.take()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
        elif token.kind == "name" and token.text.upper() in ("LIKE", "ILIKE"):
            op = token.text.upper()
        else:
            raise FilterInvalid(f"Expected a comparator after {key!r}, got {token.text!r}.")
        return Condition(entity, key, op, self.value())

    def value_list(self) -> tuple:
        opening = self.take()
        if opening.text != "(":
            raise FilterInvalid("Expected '(' after IN.")
        values = [self.value()]
        while True:
            token = self.take()
            if token.text == ")":
                break
            if token.text != ",":
                raise FilterInvalid(f"Expected ',' or ')' in a list, got {token.text!r}.")
            values.append(self.value())
            if len(values) > MAX_IN_VALUES:
                raise FilterInvalid(f"At most {MAX_IN_VALUES} values in a list.")
        return tuple(values)


def _entity(text: str) -> str:
    entity = ENTITIES.get(text.strip("`"))
    if entity is None:
        raise FilterInvalid(
            f"Invalid entity type {text!r}: use metrics., params., tags., attributes. or "
            "datasets."
        )
    return entity


def _key(text: str) -> str:
    if not text or len(text) > 250:
        raise FilterInvalid("A key is 1 to 250 characters.")
    return text


def parse_filter(text: str | None) -> list[Condition]:
    """The conditions of a filter string (all must hold); [] for none."""
    if text is None or not str(text).strip():
        return []
    if not isinstance(text, str) or len(text) > MAX_FILTER_LENGTH:
        raise FilterInvalid(f"A filter is a string of at most {MAX_FILTER_LENGTH} characters.")
    parser = _Parser(text)
    conditions = [parser.condition()]
    while not parser.done():
        if not parser.keyword("AND"):
            token = parser.peek()
            raise FilterInvalid(
                f"Expected AND between conditions, got {token.text if token else ''!r} "
                "(OR is not supported)."
            )
        conditions.append(parser.condition())
        if len(conditions) > MAX_CONDITIONS:
            raise FilterInvalid(f"At most {MAX_CONDITIONS} conditions.")
    return conditions


def parse_order_by(items: Iterable[str] | None) -> list[OrderTerm]:
    """`["metrics.rmse DESC", "name"]` -> OrderTerms (ascending unless DESC)."""
    terms = []
    for item in items or []:
        if not isinstance(item, str) or not item.strip() or len(item) > 500:
            raise FilterInvalid(f"Invalid order_by clause {item!r}.")
        parser = _Parser(item)
        entity, key = parser.identifier()
        ascending = True
        if parser.keyword("DESC"):
            ascending = False
        else:
            parser.keyword("ASC")
        if not parser.done():
            raise FilterInvalid(f"Invalid order_by clause {item!r}.")
        terms.append(OrderTerm(entity, key, ascending))
    if len(terms) > 20:
        raise FilterInvalid("At most 20 order_by clauses.")
    return terms
