"""Settings that would make predict open files are refused after loading."""

from __future__ import annotations

import pickle

import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from registry.model_files import ModelFileRefused, inspect_model_file, load_verified_model
from registry.model_files.estimator_params import find_unsafe_parameters

DOCS = ["the cat sat", "the dog ran", "a cat and a dog"]


def test_a_vectorizer_reading_content_is_fine(tmp_path):
    path = tmp_path / "vectorizer.pkl"
    path.write_bytes(pickle.dumps(TfidfVectorizer().fit(DOCS)))
    loaded = load_verified_model(path, "pickle")
    assert loaded.transform(DOCS).shape[0] == 3


def test_a_vectorizer_that_opens_file_names_is_refused(tmp_path):
    vectorizer = CountVectorizer().fit(DOCS)
    vectorizer.input = "filename"  # transform(["/etc/passwd"]) would read that file
    assert find_unsafe_parameters({"v": [vectorizer]})
    path = tmp_path / "vectorizer.pkl"
    path.write_bytes(pickle.dumps(vectorizer))
    assert inspect_model_file(path, "pickle").verified  # static scan: only allowed names
    assert not inspect_model_file(path, "pickle", load_check=True).verified
    with pytest.raises(ModelFileRefused, match="input='filename'"):
        load_verified_model(path, "pickle")
