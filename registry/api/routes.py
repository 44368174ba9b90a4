"""Registry endpoints under /t/<slug>/api/v1/: each topic registers its viewsets here."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter


def register(router: DefaultRouter) -> None:
    """Called once by mlgov.urls_tenants. Keep one line per viewset, grouped by topic."""
    # datasets
    from registry.api.datasets import DatasetVersionViewSet, DatasetViewSet

    router.register("datasets", DatasetViewSet, basename="dataset")
    versions = r"datasets/(?P<dataset_pk>[0-9]{1,18})/versions"
    router.register(versions, DatasetVersionViewSet, basename="dataset-version")
    # experiments and runs (a run's single files: extra_urlpatterns below)
    from registry.api.experiments import ExperimentViewSet
    from registry.api.runs import RunViewSet

    router.register("experiments", ExperimentViewSet, basename="experiment")
    router.register("runs", RunViewSet, basename="run")
    # registered models, versions, lineage
    from registry.api.lineage import LineageViewSet
    from registry.api.models import ModelAliasViewSet, RegisteredModelViewSet
    from registry.api.versions import ModelVersionNestedViewSet, ModelVersionViewSet

    router.register("models", RegisteredModelViewSet, basename="registered-model")
    model = r"models/(?P<model_pk>[0-9]{1,18})"
    router.register(f"{model}/versions", ModelVersionNestedViewSet, basename="model-version-nested")
    router.register(f"{model}/aliases", ModelAliasViewSet, basename="model-alias")
    router.register("model-versions", ModelVersionViewSet, basename="model-version")
    router.register("lineage", LineageViewSet, basename="lineage")


def extra_urlpatterns() -> list:
    """Routes a router cannot express, included under api/v1/ after the router's: a run's
    file, whose name has slashes and no trailing slash."""
    from registry.api.run_artifacts import urlpatterns as run_artifact_files

    return [*run_artifact_files]
