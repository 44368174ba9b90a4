"""URLs of the registry's console pages (included at the tenant's root)."""

from django.urls import path, register_converter

from registry.console import datasets, experiments, lineage, models


class PrimaryKey:
    """A bigint: longer digit strings would overflow in the database (a 500), not 404."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(PrimaryKey, "registry_pk")

urlpatterns = [
    path("datasets/", datasets.dataset_list, name="console-datasets"),
    path("datasets/<registry_pk:dataset_pk>/", datasets.dataset_detail, name="console-dataset"),
    path(
        "datasets/<registry_pk:dataset_pk>/versions/<registry_pk:version>/",
        datasets.dataset_version_detail,
        name="console-dataset-version",
    ),
    path(
        "datasets/<registry_pk:dataset_pk>/versions/<registry_pk:version>/download/",
        datasets.dataset_version_download,
        name="console-dataset-version-download",
    ),
    path("experiments/", experiments.experiment_list, name="console-experiments"),
    path(
        "experiments/<registry_pk:experiment_pk>/",
        experiments.experiment_detail,
        name="console-experiment",
    ),
    path("runs/compare/", experiments.run_compare, name="console-run-compare"),
    path("runs/compare/chart/", experiments.run_compare_chart, name="console-run-compare-chart"),
    path("runs/<registry_pk:run_pk>/", experiments.run_detail, name="console-run"),
    path("runs/<registry_pk:run_pk>/chart/", experiments.run_chart, name="console-run-chart"),
    path("models/", models.model_list, name="console-models"),
    path("models/<registry_pk:model_pk>/", models.model_detail, name="console-model"),
    path(
        "models/<registry_pk:model_pk>/versions/<registry_pk:version>/",
        models.model_version_detail,
        name="console-model-version",
    ),
    path(
        "models/<registry_pk:model_pk>/versions/<registry_pk:version>/card/",
        models.model_card_edit,
        name="console-model-card-edit",
    ),
    path(
        "models/<registry_pk:model_pk>/versions/<registry_pk:version>/download/",
        models.model_version_download,
        name="console-model-version-download",
    ),
    path("lineage/", lineage.lineage_page, name="console-lineage"),
]
