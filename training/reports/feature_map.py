"""Which input column each transformed column comes from, so that explanations computed
on the model's own features (after imputation, scaling and one-hot encoding) can be
summed back to the columns a person knows: `genre_rock` and `genre_jazz` are `genre`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer


@dataclass(frozen=True)
class FeatureMap:
    names: list[str]  # one per transformed column
    sources: list[str]  # the input column each transformed column comes from
    mapped: bool  # False when the preprocessing could not be traced: sources == names

    def membership(self) -> tuple[list[str], np.ndarray]:
        """The distinct sources in order of first appearance, and a 0/1 matrix
        (transformed column x source) that sums columns into their source."""
        order = list(dict.fromkeys(self.sources))
        index = {source: k for k, source in enumerate(order)}
        matrix = np.zeros((len(self.sources), len(order)))
        matrix[np.arange(len(self.sources)), [index[s] for s in self.sources]] = 1.0
        return order, matrix


def _source_of(name: str, columns: list[str]) -> str:
    if name in columns:
        return name
    # One-hot output is "<column>_<category>"; the longest prefix wins ("a_b" over "a").
    prefixed = [c for c in columns if name.startswith(f"{c}_")]
    if prefixed:
        return max(prefixed, key=len)
    if len(columns) == 1:
        return columns[0]
    return name


def _selected_columns(transformer: ColumnTransformer, spec: Any) -> list[str] | None:
    known = list(getattr(transformer, "feature_names_in_", []))
    if isinstance(spec, str):
        return [spec]
    if callable(spec):
        return None
    if isinstance(spec, slice):
        return known[spec] if known else None
    values = list(np.asarray(spec).ravel()) if not isinstance(spec, list) else spec
    if all(isinstance(v, str) for v in values):
        return [str(v) for v in values]
    if not known:
        return None
    picked = np.asarray(known, dtype=object)[np.asarray(values)]
    return [str(v) for v in picked]


def _column_transformer_map(transformer: ColumnTransformer) -> tuple[list, list] | None:
    names: list[str] = []
    sources: list[str] = []
    for _, step, spec in transformer.transformers_:
        columns = _selected_columns(transformer, spec)
        if columns is None:
            return None
        if step == "drop" or not columns:
            continue
        if step == "passthrough":
            produced = list(columns)
        else:
            try:
                produced = [str(n) for n in step.get_feature_names_out(columns)]
            except (AttributeError, ValueError, TypeError):
                return None
        names.extend(produced)
        sources.extend(_source_of(n, columns) for n in produced)
    return names, sources


def feature_map(preprocess: Any, columns: list[str], width: int) -> FeatureMap:
    """The map for `preprocess` (None, a ColumnTransformer, or any fitted transformer with
    `get_feature_names_out`) producing `width` columns from input `columns`."""
    if preprocess is None:
        if len(columns) == width:
            return FeatureMap(list(columns), list(columns), True)
    elif isinstance(preprocess, ColumnTransformer):
        traced = _column_transformer_map(preprocess)
        if traced is not None and len(traced[0]) == width:
            return FeatureMap(traced[0], traced[1], True)
    else:
        # A Pipeline whose only step is a ColumnTransformer (pipeline[:-1] of a recipe).
        steps = getattr(preprocess, "steps", None)
        if steps and len(steps) == 1 and isinstance(steps[0][1], ColumnTransformer):
            return feature_map(steps[0][1], columns, width)
        try:
            produced = [str(n) for n in preprocess.get_feature_names_out(columns)]
        except (AttributeError, ValueError, TypeError):
            produced = []
        if len(produced) == width:
            bare = [n.split("__", 1)[-1] for n in produced]
            return FeatureMap(produced, [_source_of(n, columns) for n in bare], True)
    names = [f"x{k}" for k in range(width)]
    return FeatureMap(names, names, False)
