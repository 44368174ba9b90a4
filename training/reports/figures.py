"""Small SVG figures for reports, as strings, with no plotting library: curves (ROC,
precision-recall), a confusion-matrix heatmap, horizontal bars (per-group rates with a
threshold line, SHAP importances) and a histogram (residuals).

All text passes through `escape` (labels come from user data: column names, group
values, class names), and every number is formatted by us, so a figure is always
well-formed XML that embeds safely in the console's HTML.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape as _html_escape
from typing import Any

WIDTH = 480
HEIGHT = 320
FONT = 'font-family="sans-serif" font-size="11"'
PALETTE = ("#1f6fb2", "#d9822b", "#2a9d55", "#c0392b", "#7d5ba6", "#8c6d31", "#d35d9c")
AXIS = "#555"
GRID = "#e3e3e3"


def escape(text: Any) -> str:
    """Text safe in SVG element content and attribute values."""
    return _html_escape(str(text), quote=True)


def _f(value: float) -> str:
    return f"{value:.1f}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _document(title: str, body: list[str], width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" {FONT} font-weight="bold">'
        f"{escape(title)}</text>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, content: Any, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" {FONT}{extra}>'
        f"{escape(content)}</text>"
    )


def curves_svg(
    curves: Sequence[dict[str, Any]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
) -> str:
    """Lines on the unit square; each curve is {"label", "x": [...], "y": [...]}."""
    left, right, top, bottom = 52, WIDTH - 130, 30, HEIGHT - 42
    body = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        gx = left + tick * (right - left)
        gy = bottom - tick * (bottom - top)
        body.append(f'<line x1="{_f(gx)}" y1="{top}" x2="{_f(gx)}" y2="{bottom}" stroke="{GRID}"/>')
        body.append(f'<line x1="{left}" y1="{_f(gy)}" x2="{right}" y2="{_f(gy)}" stroke="{GRID}"/>')
        body.append(_text(gx, bottom + 14, f"{tick:g}"))
        body.append(_text(left - 6, gy + 4, f"{tick:g}", anchor="end"))
    body.append(
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
        f'fill="none" stroke="{AXIS}"/>'
    )
    if diagonal:
        body.append(
            f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{top}" stroke="#999" '
            'stroke-dasharray="4 3"/>'
        )
    for k, curve in enumerate(curves):
        color = PALETTE[k % len(PALETTE)]
        points = [
            f"{_f(left + x * (right - left))},{_f(bottom - y * (bottom - top))}"
            for x, y in zip(curve.get("x", []), curve.get("y", []), strict=False)
            if _finite(x) and _finite(y)
        ]
        if points:
            body.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" '
                'stroke-width="2"/>'
            )
        ly = top + 8 + 16 * k
        body.append(f'<rect x="{right + 10}" y="{ly - 8}" width="10" height="10" fill="{color}"/>')
        body.append(_text(right + 24, ly + 1, curve.get("label", ""), anchor="start"))
    body.append(_text((left + right) / 2, HEIGHT - 10, x_label))
    body.append(
        _text(
            14,
            (top + bottom) / 2,
            y_label,
            extra=f' transform="rotate(-90 14 {_f((top + bottom) / 2)})"',
        )
    )
    return _document(title, body)


def roc_svg(performance: dict[str, Any]) -> str:
    """The ROC curve(s) of a classification performance report."""
    return curves_svg(
        _curves_of(performance, "roc"),
        title="ROC curve",
        x_label="False positive rate",
        y_label="True positive rate",
        diagonal=True,
    )


def precision_recall_svg(performance: dict[str, Any]) -> str:
    """The precision-recall curve(s) of a classification performance report."""
    return curves_svg(
        _curves_of(performance, "precision_recall"),
        title="Precision-recall curve",
        x_label="Recall",
        y_label="Precision",
    )


def _curves_of(performance: dict[str, Any], name: str) -> list[dict[str, Any]]:
    curves = performance.get("curves", {})
    if name in curves:
        curve = curves[name]
        auc = curve.get("auc")
        caption = str(performance.get("positive_label"))
        caption += f" (AUC {auc:.3f})" if _finite(auc) else ""
        return [{"label": caption, "x": curve["x"], "y": curve["y"]}]
    return [
        {"label": cls, "x": pair[name]["x"], "y": pair[name]["y"]}
        for cls, pair in curves.get("one_vs_rest", {}).items()
    ][: len(PALETTE)]


def confusion_matrix_svg(
    labels: Sequence[Any], matrix: Sequence[Sequence[int]], *, title: str = "Confusion matrix"
) -> str:
    """Counts as a heatmap: rows are actual classes, columns predicted ones."""
    n = max(len(labels), 1)
    left, top = 110, 46
    cell = min(48.0, (WIDTH - left - 16) / n, (HEIGHT - top - 30) / n)
    largest = max((v for row in matrix for v in row), default=0) or 1
    body = [_text(left + cell * n / 2, top - 20, "Predicted")]
    body.append(
        _text(
            12,
            top + cell * n / 2,
            "Actual",
            extra=f' transform="rotate(-90 12 {_f(top + cell * n / 2)})"',
        )
    )
    for j, name in enumerate(labels):
        body.append(_text(left + cell * (j + 0.5), top - 6, _short(name, 10)))
    for i, row in enumerate(matrix):
        body.append(
            _text(left - 6, top + cell * (i + 0.5) + 4, _short(labels[i], 16), anchor="end")
        )
        for j, value in enumerate(row):
            share = value / largest
            shade = int(255 - 190 * share)
            body.append(
                f'<rect x="{_f(left + cell * j)}" y="{_f(top + cell * i)}" width="{_f(cell)}" '
                f'height="{_f(cell)}" fill="rgb({shade},{shade + (255 - shade) // 3},255)" '
                'stroke="#fff"/>'
            )
            color = ' fill="#fff"' if share > 0.7 else ""
            body.append(
                _text(left + cell * (j + 0.5), top + cell * (i + 0.5) + 4, value, extra=color)
            )
    return _document(title, body)


def _short(text: Any, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bars_svg(
    items: Sequence[tuple[Any, Any]],
    *,
    title: str,
    value_label: str,
    threshold: float | None = None,
    reference: float | None = None,
    max_items: int = 20,
) -> str:
    """Horizontal bars, one per (name, value), with an optional dashed threshold line
    (a policy limit) and dotted reference line (the overall value); a missing value is
    drawn as "n/a"."""
    items = list(items)[:max_items]
    values = [v for _, v in items if _finite(v)]
    lines = [v for v in (threshold, reference) if _finite(v)]
    high = max([0.0, *values, *lines]) or 1.0
    low = min([0.0, *values, *lines])
    row = 18
    height = max(HEIGHT // 2, 44 + row * len(items) + 46)
    left, right, top = 150, WIDTH - 56, 44

    def at(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    body = [
        f'<line x1="{_f(at(0))}" y1="{top}" x2="{_f(at(0))}" '
        f'y2="{top + row * len(items)}" stroke="{AXIS}"/>'
    ]
    for k, (name, value) in enumerate(items):
        y = top + row * k
        body.append(_text(left - 6, y + 12, _short(name, 24), anchor="end"))
        if not _finite(value):
            body.append(_text(at(0) + 4, y + 12, "n/a", anchor="start"))
            continue
        x0, x1 = sorted((at(0), at(value)))
        body.append(
            f'<rect x="{_f(x0)}" y="{y + 3}" width="{_f(max(x1 - x0, 0.5))}" height="{row - 6}" '
            f'fill="{PALETTE[0]}"/>'
        )
        body.append(_text(x1 + 4, y + 12, f"{value:.3g}", anchor="start"))
    bottom = top + row * len(items)
    # The threshold's caption goes under the bars, the overall value's above, so the two
    # never overlap when they are close.
    markers = ((threshold, "5 3", "threshold", bottom + 16), (reference, "2 2", "overall", top - 8))
    for value, dash, caption, caption_y in markers:
        if _finite(value):
            body.append(
                f'<line x1="{_f(at(value))}" y1="{top - 4}" x2="{_f(at(value))}" y2="{bottom + 4}" '
                f'stroke="{PALETTE[3]}" stroke-dasharray="{dash}"/>'
            )
            body.append(_text(at(value), caption_y, f"{caption} {value:.3g}"))
    body.append(_text((left + right) / 2, height - 6, value_label))
    return _document(title, body, height=height)


def fairness_bars_svg(
    breakdown: dict[str, Any],
    metric: str = "selection_rate",
    *,
    overall: float | None = None,
    threshold: float | None = None,
) -> str:
    """One bar per group of a fairness report's breakdown for `metric`."""
    items = [(group["name"], group.get(metric)) for group in breakdown.get("groups", [])]
    title = f"{metric.replace('_', ' ')} by {' × '.join(breakdown.get('features', []))}"
    return bars_svg(
        items,
        title=title,
        value_label=metric.replace("_", " "),
        threshold=threshold,
        reference=overall,
        max_items=40,
    )


def importance_svg(explanations: dict[str, Any], max_features: int = 20) -> str:
    """Mean |SHAP| per feature of an explanations report, largest first."""
    items = [(e["feature"], e["mean_abs_shap"]) for e in explanations.get("global_importance", [])]
    return bars_svg(
        items,
        title="Feature importance (mean |SHAP|)",
        value_label=f"mean |SHAP| ({explanations.get('model_output', '')})",
        max_items=max_features,
    )


def histogram_svg(
    counts: Sequence[int], edges: Sequence[float], *, title: str, x_label: str
) -> str:
    """Bars of `counts` over the bins bounded by `edges` (len(counts) + 1 of them)."""
    left, right, top, bottom = 48, WIDTH - 16, 30, HEIGHT - 42
    largest = max(counts, default=0) or 1
    width = (right - left) / max(len(counts), 1)
    body = [f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS}"/>']
    for k, count in enumerate(counts):
        h = (bottom - top) * count / largest
        body.append(
            f'<rect x="{_f(left + k * width + 1)}" y="{_f(bottom - h)}" '
            f'width="{_f(max(width - 2, 0.5))}" height="{_f(h)}" fill="{PALETTE[0]}"/>'
        )
    finite = [e for e in edges if _finite(e)]
    if finite:
        body.append(_text(left, bottom + 14, f"{finite[0]:.3g}"))
        body.append(_text(right, bottom + 14, f"{finite[-1]:.3g}"))
    body.append(_text(left - 6, top + 8, largest, anchor="end"))
    body.append(_text((left + right) / 2, HEIGHT - 10, x_label))
    return _document(title, body)
