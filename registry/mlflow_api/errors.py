"""MLflow's error shape, `{"error_code": "...", "message": "..."}`, for every error of the
MLflow-compatible API, with the HTTP status the mlflow client expects for each code.

The client turns the body into `RestException(error_code)`; the status decides whether it
retries (429 and 5xx are retried with back-off, so a refusal must never be a 5xx). mlgov's
own refusals (TrackingError, RegistryError, DomainError, quota errors) are translated here
once, so the views only raise.
"""

from __future__ import annotations

import logging

from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from mlgov.api.errors import DomainError

logger = logging.getLogger(__name__)

# MLflow's own table (mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS) for the codes we send.
STATUS_OF = {
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,  # sic: MLflow answers an existing name with 400
    "BAD_REQUEST": 400,
    "MALFORMED_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_CONFLICT": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "QUOTA_EXCEEDED": 403,
    "INTERNAL_ERROR": 500,
}

# mlgov codes that mean something more specific than their status in MLflow's terms.
_BY_CODE = {
    "name_taken": "RESOURCE_ALREADY_EXISTS",
    "artifact_exists": "RESOURCE_ALREADY_EXISTS",
    "not_found": "RESOURCE_DOES_NOT_EXIST",
    "tag_not_found": "RESOURCE_DOES_NOT_EXIST",
    "artifact_not_found": "RESOURCE_DOES_NOT_EXIST",
    "run_artifact_not_found": "RESOURCE_DOES_NOT_EXIST",
    # MLflow refuses writes to deleted objects and changed params as bad parameters
    "param_immutable": "INVALID_PARAMETER_VALUE",
    "experiment_deleted": "INVALID_PARAMETER_VALUE",
    "run_deleted": "INVALID_PARAMETER_VALUE",
    "artifact_path_conflict": "INVALID_PARAMETER_VALUE",
    # governance: a gate's refusal, and a version that can never be served
    "transition_refused": "PERMISSION_DENIED",
    "version_not_verified": "PERMISSION_DENIED",
    "quota_exceeded": "QUOTA_EXCEEDED",
    "model_has_versions": "RESOURCE_CONFLICT",
    "artifact_too_large": "INVALID_PARAMETER_VALUE",
}
_BY_STATUS = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "ENDPOINT_NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    413: "INVALID_PARAMETER_VALUE",
    415: "BAD_REQUEST",
    429: "REQUEST_LIMIT_EXCEEDED",
}


class MlflowError(Exception):
    """A refusal in MLflow's terms; `status` defaults to MLflow's for the code."""

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_OF.get(code, 400)


def invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> MlflowError:
    return MlflowError("RESOURCE_DOES_NOT_EXIST", message)


def denied(message: str) -> MlflowError:
    return MlflowError("PERMISSION_DENIED", message)


def error_body(code: str, message: str) -> dict:
    return {"error_code": code, "message": message}


def _with_details(message: str, details: dict | None) -> str:
    """The failing checks of a governance refusal belong in the message: the client shows
    only the message to the person who asked for the promotion."""
    if not details:
        return message
    parts = []
    for key, value in details.items():
        if isinstance(value, list | tuple):
            value = "; ".join(str(item) for item in value)
        parts.append(f"{key}: {value}")
    return f"{message} ({' | '.join(parts)})"


def translate(exc: Exception) -> MlflowError | None:
    """The MLflow error for an mlgov refusal, or None for an unexpected exception."""
    if isinstance(exc, MlflowError):
        return exc
    if isinstance(exc, Http404):
        return not_found("Not found.")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return MlflowError("UNAUTHENTICATED", str(exc.detail), 401)
    if isinstance(exc, exceptions.Throttled):
        return MlflowError("REQUEST_LIMIT_EXCEEDED", str(exc.detail), 429)
    if isinstance(exc, exceptions.ParseError):
        return MlflowError("MALFORMED_REQUEST", str(exc.detail), 400)
    if isinstance(exc, DomainError):
        code = _BY_CODE.get(exc.error_code) or _BY_STATUS.get(exc.status_code, "BAD_REQUEST")
        return MlflowError(code, _with_details(str(exc.detail), exc.details), exc.status_code)
    if isinstance(exc, exceptions.APIException):
        code = _BY_STATUS.get(exc.status_code, "BAD_REQUEST")
        return MlflowError(code, str(exc.detail), exc.status_code)
    # Service refusals (TrackingError, RegistryError, QuotaExceeded) share this duck shape.
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    if isinstance(status, int) and isinstance(code, str) and 400 <= status < 500:
        mlflow_code = _BY_CODE.get(code) or _BY_STATUS.get(status, "BAD_REQUEST")
        message = getattr(exc, "message", None) or str(exc)
        details = getattr(exc, "details", None)
        details = details() if callable(details) else details
        # MLflow's status for the code (a name taken is its 400, not mlgov's 409); a quota
        # keeps its own (403 for an allowance, 429 for a rate)
        keep = mlflow_code == "QUOTA_EXCEEDED"
        http_status = status if keep else STATUS_OF.get(mlflow_code, status)
        return MlflowError(mlflow_code, _with_details(message, details), http_status)
    return None


def exception_handler(exc, context) -> Response:
    """DRF exception handler of every MLflow view: always MLflow's shape, never mlgov's."""
    error = translate(exc)
    if error is None:
        logger.exception("Unhandled error in the MLflow API", exc_info=exc)
        error = MlflowError("INTERNAL_ERROR", "The server failed to handle this request.", 500)
    response = Response(error_body(error.code, error.message), status=error.status)
    if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
        request = context.get("request")
        view = context.get("view")
        header = view.get_authenticate_header(request) if view and request else None
        response["WWW-Authenticate"] = header or 'Bearer realm="mlgov"'
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(int(exc.wait))
    retry = getattr(exc, "details", None)
    if error.status == 429 and isinstance(retry, dict) and "retry_after_seconds" in retry:
        response["Retry-After"] = str(retry["retry_after_seconds"])  # the quota's window
    return response


def json_error(code: str, message: str, status: int | None = None) -> JsonResponse:
    """The same shape outside DRF."""
    return JsonResponse(error_body(code, message), status=status or STATUS_OF.get(code, 400))
