"""Legitimate models pass in every format and load to predict exactly as the original."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pytest
import skops.io

from registry.model_files import inspect_model_file, load_verified_model

FORMATS = [
    ("pickle", None),
    ("joblib", 0),
    ("joblib", 3),
    ("joblib", ("gzip", 3)),
    ("joblib", ("bz2", 3)),
    ("joblib", ("xz", 3)),
    ("joblib", ("lzma", 3)),
    ("skops", None),
]
MODELS = [
    "pipeline",
    "random_forest",
    "gradient_boosting",
    "isolation_forest",
    "hist_gradient_boosting",
]


def _write(model, path, fmt, compress) -> None:
    if fmt == "pickle":
        path.write_bytes(pickle.dumps(model))
    elif fmt == "joblib":
        with open(path, "wb") as handle:
            joblib.dump(model, handle, compress=compress)
    else:
        skops.io.dump(model, path)


def _assert_same_predictions(original, loaded, X, methods) -> None:
    assert type(loaded) is type(original)
    for method in methods:
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(original, method)(X))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("fmt", "compress"), FORMATS, ids=str)
def test_legit_models_pass_and_predict_identically(tmp_path, fitted_models, name, fmt, compress):
    fitted = fitted_models[name]
    path = tmp_path / f"{name}.{fmt}"
    _write(fitted.model, path, fmt, compress)

    result = inspect_model_file(path, fmt, load_check=True)
    assert result.verified, result.reasons
    assert result.load_checked
    assert result.reasons == ()
    assert any(ref.startswith("sklearn.") for ref in result.referenced_types)

    loaded = load_verified_model(path, fmt)
    _assert_same_predictions(fitted.model, loaded, fitted.X, fitted.methods)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("name", ["pipeline", "hist_gradient_boosting"])
def test_every_pickle_protocol_of_a_legit_model_loads(tmp_path, fitted_models, protocol, name):
    # protocols 0-2 store bytes through _codecs.encode and rebuild objects with
    # copyreg._reconstructor; 4-5 use frames and STACK_GLOBAL; 5 in-band buffers
    fitted = fitted_models[name]
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fitted.model, protocol=protocol))
    loaded = load_verified_model(path, "pickle")
    _assert_same_predictions(fitted.model, loaded, fitted.X, fitted.methods)


def test_static_inspection_does_not_load_by_default(tmp_path, fitted_models):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fitted_models["random_forest"].model))
    result = inspect_model_file(path, "pickle")
    assert result.verified
    assert not result.load_checked
    assert "sklearn.tree._tree.Tree" in result.referenced_types
