"""Numbers on console pages: metric values with at most six significant digits, written the
way the active language writes numbers (0.8333 / 0,8333)."""

from __future__ import annotations

import math

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def metric(value):
    """A metric value for people; anything that is not a finite number is shown as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    text = f"{value:.6g}"
    if "e" in text:  # very large or very small: scientific notation reads better
        return text
    decimals = len(text.partition(".")[2])
    return number_format(float(text), decimal_pos=decimals, force_grouping=True)
