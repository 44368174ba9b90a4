"""Fitted-estimator settings that make predict touch the file system.

The type allow-list decides which classes may appear; a few allowed classes still have a
setting that turns prediction input into file access. The text vectorizers with
`input="filename"` open every string passed to `transform` as a path, which would let
whoever calls predict read server files through the model.
"""

from __future__ import annotations

from typing import Any

from sklearn.feature_extraction.text import _VectorizerMixin

from registry.model_files.object_graph import iter_objects


def find_unsafe_parameters(model: Any) -> list[str]:
    """Every setting in `model` that would make predict open files."""
    problems = []
    for path, obj in iter_objects(model):
        if isinstance(obj, _VectorizerMixin) and getattr(obj, "input", None) == "filename":
            problems.append(f"{path}: input='filename' opens files named in predict input")
    return problems
