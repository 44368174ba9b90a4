"""The one view class of the MLflow-compatible API and the parsing of its parameters.

Every route is an `MlflowEndpoint` given a handler per HTTP method. It authenticates like
the REST API (bearer token, or HTTP Basic with a token as password: the mlflow client's
MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD; console sessions are not
accepted here), checks the token's scope (reads need read, writes write: MLflow's POST
searches are reads), applies the tenant's request-rate quota, and answers every error in
MLflow's shape (errors.py). Handlers parse, call services and selectors, and map.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpResponseBase
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from mlgov.api.permissions import TokenScopePermission
from mlgov.identity.authentication import BasicTokenAuthentication, BearerTokenAuthentication
from registry.mlflow_api.errors import exception_handler, invalid

Handler = Callable[..., Any]


class MlflowEndpoint(APIView):
    """One MLflow route; `handlers` maps an HTTP method to `handler(request, **kwargs)`,
    which returns a JSON-able dict (200) or a response of its own."""

    authentication_classes = [BearerTokenAuthentication, BasicTokenAuthentication]
    permission_classes = [TokenScopePermission]
    http_method_names = ["get", "post", "put", "patch", "delete"]
    handlers: dict[str, Handler] = {}
    required_scopes: dict[str, str] = {}

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        self._started = time.perf_counter()
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        # Server-Timing (W3C): the view's own time, so bench/mlflow_compat.py can tell
        # server time from the client's.
        response = super().finalize_response(request, response, *args, **kwargs)
        started = getattr(self, "_started", None)
        if started is not None:
            response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response

    def _dispatch_method(self, request, *args, **kwargs):
        handler = self.handlers.get(request.method)
        if handler is None:
            raise exceptions.MethodNotAllowed(request.method)
        result = handler(request, **kwargs)
        if isinstance(result, HttpResponseBase):
            return result
        return Response(result if result is not None else {})

    get = post = put = patch = delete = _dispatch_method


# --- parameters ----------------------------------------------------------------------------


class Params:
    """A request's parameters: the query string for GET (as the client sends them), the
    JSON body otherwise. Every getter validates and refuses with INVALID_PARAMETER_VALUE."""

    def __init__(self, request):
        if request.method == "GET":
            self.query = request.query_params
            self.body: dict = {}
        else:
            self.query = None
            data = request.data if request.content_type.startswith("application/json") else {}
            if not isinstance(data, dict):
                raise invalid("The request body must be a JSON object.")
            self.body = data

    def raw(self, name: str) -> Any:
        if self.query is not None:
            values = self.query.getlist(name)
            if len(values) > 1:
                return values
            return values[0] if values else None
        return self.body.get(name)

    def string(self, name: str, *, required: bool = False, default: str | None = None,
               max_length: int = 10_000) -> str | None:
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise invalid(f"Missing value for required parameter '{name}'.")
            return default
        if not isinstance(value, str):
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            else:
                raise invalid(f"Parameter '{name}' must be a string.")
        if len(value) > max_length:
            raise invalid(f"Parameter '{name}' is longer than {max_length} characters.")
        return value

    def integer(self, name: str, *, required: bool = False, default: int | None = None
                ) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise invalid(f"Missing value for required parameter '{name}'.")
            return default
        if isinstance(value, bool):
            raise invalid(f"Parameter '{name}' must be an integer.")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise invalid(f"Parameter '{name}' must be an integer, got {value!r}.") from None
        if not isinstance(value, int) or not -(2**63) <= value < 2**63:
            raise invalid(f"Parameter '{name}' must be a 64-bit integer.")
        return value

    def number(self, name: str, *, required: bool = False) -> float | str | None:
        """A float as proto3 JSON carries it: a number, or "NaN", "Infinity", "-Infinity"
        (kept as those strings; the metrics service reads them)."""
        value = self.raw(name)
        if value is None:
            if required:
                raise invalid(f"Missing value for required parameter '{name}'.")
            return None
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            return value
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise invalid(f"Parameter '{name}' must be a number.") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(f"Parameter '{name}' must be a number.")
        return float(value)

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid(f"Parameter '{name}' must be true or false.")

    def strings(self, name: str, *, max_items: int = 1_000) -> list[str]:
        value = self.raw(name)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise invalid(f"Parameter '{name}' must be a list of strings.")
        if len(value) > max_items:
            raise invalid(f"Parameter '{name}' holds at most {max_items} items.")
        return value

    def objects(self, name: str, *, max_items: int) -> list[dict]:
        value = self.raw(name)
        if value is None:
            return []
        if isinstance(value, str):  # a GET carrying JSON in a query parameter
            try:
                value = json.loads(value)
            except ValueError:
                raise invalid(f"Parameter '{name}' must be a list of objects.") from None
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise invalid(f"Parameter '{name}' must be a list of objects.")
        if len(value) > max_items:
            raise invalid(f"Parameter '{name}' holds at most {max_items} items.")
        return value

    def pairs(self, name: str, *, max_items: int = 1_000) -> dict[str, str]:
        """`[{"key": k, "value": v}, ...]` -> {k: v} (values as strings)."""
        pairs: dict[str, str] = {}
        for item in self.objects(name, max_items=max_items):
            key, value = item.get("key"), item.get("value", "")
            if not isinstance(key, str) or not key:
                raise invalid(f"Every item of '{name}' needs a key.")
            if value is None:
                value = ""
            if not isinstance(value, str):
                value = json.dumps(value) if isinstance(value, dict | list) else str(value)
            pairs[key] = value
        return pairs


def params_of(request) -> Params:
    return Params(request)
