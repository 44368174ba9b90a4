"""MLflow's filter and order-by grammar (registry/mlflow_api/search_filter.py): what parses,
what it means, and that everything else is a FilterInvalid (an INVALID_PARAMETER_VALUE
400 at the API), never an unhandled error."""

from __future__ import annotations

import random
import string

import pytest

from registry.mlflow_api.search_filter import (
    Condition,
    FilterInvalid,
    OrderTerm,
    like_regex,
    matches,
    parse_filter,
    parse_order_by,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.rmse < 1", [Condition("metric", "rmse", "<", 1.0)]),
        ("metric.rmse >= -2.5e-3", [Condition("metric", "rmse", ">=", -0.0025)]),
        ("params.alpha = '0.5'", [Condition("param", "alpha", "=", "0.5")]),
        ('parameters.alpha != "x"', [Condition("param", "alpha", "!=", "x")]),
        ("params.a <> 'b'", [Condition("param", "a", "!=", "b")]),
        ("tags.mlflow.runName = 'first'", [Condition("tag", "mlflow.runName", "=", "first")]),
        ("tags.`my key-1` LIKE '%x_'", [Condition("tag", "my key-1", "LIKE", "%x_")]),
        ('tags."odd.key" ilike \'A%\'', [Condition("tag", "odd.key", "ILIKE", "A%")]),
        ("`metrics`.`f1 score` > 0.9", [Condition("metric", "f1 score", ">", 0.9)]),
        ("attributes.status = 'FINISHED'", [Condition("attribute", "status", "=", "FINISHED")]),
        ("status = 'RUNNING'", [Condition("attribute", "status", "=", "RUNNING")]),
        ("`run name` = 'x'", [Condition("attribute", "run name", "=", "x")]),
        ("run.start_time > 1700000000000",
         [Condition("attribute", "start_time", ">", 1.7e12)]),
        ("attr.run_id IN ('a', 'b')", [Condition("attribute", "run_id", "IN", ("a", "b"))]),
        ("attribute.run_id not in ('a')", [Condition("attribute", "run_id", "NOT IN", ("a",))]),
        ("datasets.digest = 'abc'", [Condition("dataset", "digest", "=", "abc")]),
        ("tags.t IS NULL", [Condition("tag", "t", "IS NULL")]),
        ("tags.t is not null", [Condition("tag", "t", "IS NOT NULL")]),
        ("params.q = 'it''s'", [Condition("param", "q", "=", "it's")]),
        (
            "metrics.a > 1 and params.b = 'c' AND tags.d != 'e'",
            [
                Condition("metric", "a", ">", 1.0),
                Condition("param", "b", "=", "c"),
                Condition("tag", "d", "!=", "e"),
            ],
        ),
        ("", []),
        ("   ", []),
        (None, []),
    ],
)
def test_valid_filters_parse_to_their_conditions(text, expected):
    # given a filter MLflow accepts / when parsed / then these conditions, all required
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "metrics.rmse",  # no comparator
        "metrics.rmse <",  # no value
        "metrics.rmse < 1 or params.a = 'b'",  # OR is not MLflow's
        "metrics.rmse < 1 params.a = 'b'",  # no AND
        "foo.bar = 'x'",  # unknown entity
        "params.a = unquoted",  # a value must be quoted or a number
        "params.a = 'unterminated",
        "params.a IN 'x'",  # IN needs a list
        "params.a IN ('x' 'y')",
        "params.a IN ()",
        "params.a NOT = 'x'",
        "tags.t IS 'x'",
        "metrics.`unterminated > 1",
        "metrics. > 1",
        "metrics.a > 1 AND",
        "; DROP TABLE runs; --",
        "metrics.a > 1e999",  # not finite
        "params.a = 'x' ) (",
        "params.learning-rate = '1'",  # a dash needs backticks
        "a" * 20_000,
    ],
)
def test_invalid_filters_are_refused(text):
    # given a filter that does not parse / then FilterInvalid, never another error
    with pytest.raises(FilterInvalid):
        parse_filter(text)


def test_random_input_never_raises_anything_but_filter_invalid():
    # given noise built from the grammar's own characters and words
    rng = random.Random(7)
    pieces = list(string.printable) + ["metrics.", "params.", "tags.", " AND ", " IN ",
                                       "'x'", "`k`", " LIKE ", "(", ")", "1.5", " IS ", "NULL"]
    for _ in range(3_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        # when parsed / then a result or FilterInvalid: nothing else escapes
        try:
            parse_filter(text)
        except FilterInvalid:
            pass


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["metrics.rmse DESC"], [OrderTerm("metric", "rmse", False)]),
        (["name"], [OrderTerm("attribute", "name", True)]),
        (["attributes.start_time asc", "tags.`a b` desc"],
         [OrderTerm("attribute", "start_time", True), OrderTerm("tag", "a b", False)]),
        ([], []),
        (None, []),
    ],
)
def test_order_by_parses(items, expected):
    assert parse_order_by(items) == expected


@pytest.mark.parametrize("item", ["metrics.rmse DOWN", "", "metrics.", "a b c", "name desc x"])
def test_invalid_order_by_is_refused(item):
    with pytest.raises(FilterInvalid):
        parse_order_by([item])


@pytest.mark.parametrize(
    ("pattern", "text", "matched"),
    [
        ("%x_", "abcxy", True),
        ("%x_", "abcx", False),
        ("a.c", "abc", False),  # a dot is literal
        ("a.c", "a.c", True),
        ("50%", "50% off", True),
        ("(a)", "(a)", True),
        ("_", "é", True),
    ],
)
def test_like_patterns_mean_what_sql_like_means(pattern, text, matched):
    condition = Condition("tag", "t", "LIKE", pattern)
    assert matches(condition, text, kind="string") is matched
    assert like_regex(pattern).startswith("^")
    assert like_regex(pattern).endswith("$")


def test_types_are_checked_before_anything_is_compared():
    # a number compared with a string, LIKE on a number, < on a string: refused
    with pytest.raises(FilterInvalid):
        matches(Condition("metric", "m", "=", "1"), 1.0, kind="number")
    with pytest.raises(FilterInvalid):
        matches(Condition("metric", "m", "LIKE", "1%"), 1.0, kind="number")
    with pytest.raises(FilterInvalid):
        matches(Condition("param", "p", "<", 1.0), "1", kind="string")
    assert matches(Condition("metric", "m", ">=", 1.0), 1.0, kind="number")
    assert not matches(Condition("param", "p", "=", "1"), None, kind="string")
    assert matches(Condition("param", "p", "IS NULL"), None, kind="string")
