"""Small generated data for recipe tests (no database needed)."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def classification_frame():
    rng = np.random.default_rng(7)
    n = 600
    energy = rng.uniform(0, 1, n)
    tempo = rng.normal(120, 20, n)
    region = rng.choice(["north", "south"], n)
    noise = rng.normal(0, 0.15, n)
    score = 2.0 * energy + 0.01 * (tempo - 120) + noise
    label = np.where(score > 1.0, "dance", "calm")
    return pd.DataFrame({"energy": energy, "tempo": tempo, "region": region, "label": label})
