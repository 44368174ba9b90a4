from django.apps import AppConfig


class ApiConfig(AppConfig):
    """Not a models app: loads the OpenAPI extensions once Django is ready."""

    name = "mlgov.api"
    label = "mlgov_api"

    def ready(self) -> None:
        from mlgov.api import schema  # noqa: F401  (registers the extensions)
