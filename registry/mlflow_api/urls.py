"""Routes of the MLflow-compatible API, included by mlgov.urls_tenants under `mlflow/`.

Each topic module lists `ROUTES` as (method, API version, path, handler, scope); a path
is under `api/<version>/mlflow/` unless it starts with `mlflow-artifacts/`. Routes that
share a path become one view with a handler per method. A scope of "read" marks MLflow's
POST searches as reads (a read-scoped token may search); otherwise GET needs read and
every other method write. Anything else under `mlflow/` answers MLflow's
ENDPOINT_NOT_FOUND, in MLflow's error shape, to an authenticated caller.
"""

from __future__ import annotations

from django.urls import path

from registry.mlflow_api import (
    artifacts,
    experiments,
    logged_models,
    metrics,
    model_versions,
    registered_models,
    run_inputs,
    run_search,
    runs,
    server_info,
)
from registry.mlflow_api.base import MlflowEndpoint
from registry.mlflow_api.errors import MlflowError

TOPICS = (
    experiments, runs, run_search, run_inputs, metrics, logged_models, registered_models,
    model_versions, artifacts, server_info,
)  # fmt: skip


def _full_path(version: str, route: str) -> str:
    if route.startswith("mlflow-artifacts/"):
        return f"api/{version}/{route}"
    return f"api/{version}/mlflow/{route}"


def _grouped() -> dict[str, tuple[dict, dict]]:
    grouped: dict[str, tuple[dict, dict]] = {}
    for topic in TOPICS:
        for method, version, route, handler, scope in topic.ROUTES:
            handlers, scopes = grouped.setdefault(_full_path(version, route), ({}, {}))
            if method in handlers:
                raise RuntimeError(f"two handlers for {method} {route}")
            handlers[method] = handler
            if scope:
                scopes[method] = scope
    return grouped


def _unknown_endpoint(request, **kwargs):
    raise MlflowError(
        "ENDPOINT_NOT_FOUND", f"No MLflow endpoint {request.method} {request.path} here.", 404
    )


_ANY = {method: _unknown_endpoint for method in ("GET", "POST", "PUT", "PATCH", "DELETE")}

urlpatterns = [
    path(route, MlflowEndpoint.as_view(handlers=handlers, required_scopes=scopes))
    for route, (handlers, scopes) in _grouped().items()
]
urlpatterns.append(
    path("<path:unknown>", MlflowEndpoint.as_view(
        handlers=_ANY, required_scopes={method: "read" for method in _ANY}
    ))
)
