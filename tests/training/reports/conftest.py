"""Small generated data and fitted pipelines for the report tests (no database).

The pipelines are built the way training/recipes builds them (the recipes' own
preprocessor on object-string categories), so the reports meet the models they will
meet in production."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from training.recipes.base import as_categorical_strings, preprocessor

FEATURES = ["energy", "tempo", "genre", "genre_x"]


@pytest.fixture(autouse=True)
def one_thread():
    """One OpenMP/BLAS thread, as the evaluation worker runs: on a busy machine, threads
    of HistGradientBoosting spin against each other and a test takes seconds instead
    of milliseconds."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def songs():
    """Songs whose label depends on energy and genre; tempo and genre_x are noise.
    `genre_x` shares a prefix with `genre`, so one-hot columns are easy to misattribute."""
    rng = np.random.default_rng(11)
    n = 800
    frame = pd.DataFrame(
        {
            "energy": rng.uniform(0, 1, n),
            "tempo": rng.normal(120, 20, n),
            "genre": rng.choice(["rock", "jazz", "pop"], n),
            "genre_x": rng.choice(["a", "b"], n),
            "region": rng.choice(["north", "south", "east"], n),
            "gender": rng.choice(["f", "m"], n),
        }
    )
    frame.loc[::13, "tempo"] = np.nan
    score = 2.0 * frame["energy"] + 0.8 * (frame["genre"] == "rock") + rng.normal(0, 0.3, n)
    frame["label"] = np.where(score > 1.3, "dance", "calm")
    frame["mood"] = np.where(
        frame["energy"] > 0.66, "high", np.where(frame["energy"] > 0.33, "mid", "low")
    )
    frame["loudness"] = 3.0 * frame["energy"] + (frame["genre"] == "rock") + rng.normal(0, 0.1, n)
    return frame


@pytest.fixture(scope="session")
def song_features(songs):
    return as_categorical_strings(songs, FEATURES)


def fit(x, y, estimator):
    """A recipe-shaped pipeline: the recipes' preprocessor, then `estimator`."""
    with threadpool_limits(limits=1):  # session fixtures fit outside the autouse fixture
        return Pipeline([("prep", preprocessor(x, list(x.columns))), ("model", estimator)]).fit(
            x, y
        )
