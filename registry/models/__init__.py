"""Everything a tenant owns in the registry. One module per topic."""

from registry.models.artifacts import Artifact
from registry.models.datasets import Dataset, DatasetVersion
from registry.models.experiments import (
    Experiment,
    Run,
    RunArtifact,
    RunDatasetInput,
    RunMetric,
    RunMetricLatest,
    RunParam,
    RunTag,
)
from registry.models.lineage import LineageEdge
from registry.models.registered_models import (
    ModelAlias,
    ModelCard,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    StageTransition,
)

__all__ = [
    "Artifact",
    "Dataset",
    "DatasetVersion",
    "Experiment",
    "LineageEdge",
    "ModelAlias",
    "ModelCard",
    "ModelVersion",
    "ModelVersionTag",
    "RegisteredModel",
    "RegisteredModelTag",
    "Run",
    "RunArtifact",
    "RunDatasetInput",
    "RunMetric",
    "RunMetricLatest",
    "RunParam",
    "RunTag",
    "StageTransition",
]
