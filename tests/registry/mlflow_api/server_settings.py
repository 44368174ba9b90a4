"""Settings of the gunicorn these tests start: mlgov's own, with the test gate."""

from mlgov.settings import *  # noqa: F403

MLGOV_TRANSITION_GATES = ["tests.registry.mlflow_api.gates.require_evidence"]
