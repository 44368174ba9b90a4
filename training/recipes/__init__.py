"""Training recipes, one module per task type. Each exposes `NEEDS_TARGET` and
`run(frame, spec, on_trial=None, storage=None, study_name=None) -> RecipeResult`."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from threadpoolctl import threadpool_limits

from training.recipes import (
    anomaly_detection,
    classification,
    clustering,
    forecasting,
    recommendation,
    regression,
)

RECIPES: dict[str, ModuleType] = {
    "classification": classification,
    "regression": regression,
    "clustering": clustering,
    "anomaly_detection": anomaly_detection,
    "recommendation": recommendation,
    "forecasting": forecasting,
}


def run_recipe(name: str, *args, **kwargs):
    """Run a recipe on one core: a training worker runs one task per process, so
    OpenMP/BLAS threads would only fight each other (and other tenants' jobs)."""
    run: Callable = RECIPES[name].run
    with threadpool_limits(limits=1):
        return run(*args, **kwargs)
