"""Every figure is well-formed SVG, and text from user data is escaped."""

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from training.reports import figures
from training.reports.fairness import fairness_report
from training.reports.performance import classification_performance

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & Ünïcode'


def parse(svg):
    root = ET.fromstring(svg)  # raises on malformed XML
    assert root.tag == f"{SVG}svg"
    return root


def texts(root):
    return [element.text for element in root.iter(f"{SVG}text")]


@pytest.fixture(scope="module")
def performance():
    rng = np.random.default_rng(0)
    y = rng.choice([HOSTILE, "<b>"], 400)
    score = np.clip((y == HOSTILE) * 0.3 + rng.uniform(0, 0.7, 400), 0, 1)
    proba = np.column_stack([score, 1 - score])
    predicted = np.where(score > 0.5, HOSTILE, "<b>")
    return classification_performance(
        y_true=y, y_pred=predicted, y_score=proba, labels=[HOSTILE, "<b>"], positive_label=HOSTILE
    )


def test_roc_and_precision_recall_curves(performance):
    for svg in (figures.roc_svg(performance), figures.precision_recall_svg(performance)):
        root = parse(svg)
        assert root.find(f"{SVG}polyline") is not None
        assert "<script>" not in svg
        assert any(t and t.startswith(HOSTILE) for t in texts(root))


def test_confusion_matrix_heatmap(performance):
    matrix = performance["confusion_matrix"]
    root = parse(figures.confusion_matrix_svg(matrix["labels"], matrix["matrix"]))
    counts = [int(t) for t in texts(root) if t and t.isdigit()]
    assert sorted(counts) == sorted(v for row in matrix["matrix"] for v in row)
    assert len(root.findall(f"{SVG}rect")) == 1 + 4  # background and four cells


def test_group_bars_with_threshold_line():
    rng = np.random.default_rng(1)
    n = 300
    sensitive = pd.DataFrame({"region<&>": rng.choice(["<north>", "south & east"], n)})
    report = fairness_report(
        y_true=rng.integers(0, 2, n),
        y_pred=rng.integers(0, 2, n),
        sensitive=sensitive,
        task="classification",
        positive_label=1,
    )
    svg = figures.fairness_bars_svg(
        report["breakdowns"][0], overall=report["overall"]["selection_rate"], threshold=0.4
    )
    root = parse(svg)
    assert "<north>" in texts(root)
    assert "<north>" not in svg
    assert any(t and t.startswith("threshold 0.4") for t in texts(root))
    assert root.find(f"{SVG}title").text == "selection rate by region<&>"


def test_importance_bars_and_histogram_handle_missing_values():
    explanations = {
        "model_output": "probability",
        "global_importance": [
            {"feature": "a<b", "mean_abs_shap": 0.3},
            {"feature": "c", "mean_abs_shap": None},
        ],
    }
    root = parse(figures.importance_svg(explanations))
    assert "a<b" in texts(root)
    assert "n/a" in texts(root)
    root = parse(
        figures.histogram_svg([1, 5, 2], [-1.0, 0.0, 1.0, 2.0], title="<res>", x_label="r")
    )
    assert root.find(f"{SVG}title").text == "<res>"


def test_escape_covers_quotes_for_attributes():
    assert figures.escape("\"<&>'") == "&quot;&lt;&amp;&gt;&#x27;"
