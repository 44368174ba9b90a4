"""One JSON error shape for every 4xx and 5xx:
`{"error": {"code": "...", "message": "...", "details": {...}}}`."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class DomainError(exceptions.APIException):
    """Raised by views to answer a domain error with its own status and code."""

    def __init__(self, *, status_code: int, code: str, message: str, details: dict | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.details = details or {}


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _flatten_codes(detail) -> str:
    if isinstance(detail, list) and detail:
        return _flatten_codes(detail[0])
    if isinstance(detail, dict) and detail:
        return _flatten_codes(next(iter(detail.values())))
    return getattr(detail, "code", None) or "invalid"


def _render_as_json(context) -> None:
    # Errors are JSON whatever the view renders (the OpenAPI YAML, Swagger's HTML, a CSV
    # export): DRF's finalize_response takes the renderer from the request.
    request = context.get("request")
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def api_exception_handler(exc, context):
    """DRF exception handler producing the mlgov error shape, always as JSON."""
    _render_as_json(context)
    if isinstance(exc, DomainError):
        return Response(
            error_body(exc.error_code, str(exc.detail), exc.details), status=exc.status_code
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in API view", exc_info=exc)
        return Response(
            error_body("server_error", "The server failed to handle this request."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        body = error_body(
            "validation_error",
            "The request is not valid; see details for each field.",
            {
                "fields": exc.detail
                if isinstance(exc.detail, dict)
                else {"non_field_errors": exc.detail},
                "first_code": _flatten_codes(exc.detail),
            },
        )
    else:
        code = exc.get_codes() if hasattr(exc, "get_codes") else "error"
        if not isinstance(code, str):
            code = _flatten_codes(code)
        details = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            details["retry_after_seconds"] = int(exc.wait)
        body = error_body(code, str(exc.detail), details)
    response.data = body
    return response


# --- plain Django views (outside DRF): 404 and 500 handlers of the URLconfs ---------


def _wants_json(request: HttpRequest) -> bool:
    path = request.path
    accept = request.META.get("HTTP_ACCEPT", "")
    return "/api/" in path or "/mlflow/" in path or path == "/healthz" or "text/html" not in accept


def json_or_html_404(request: HttpRequest, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_or_html_500(request: HttpRequest):
    if _wants_json(request):
        return JsonResponse(
            error_body("server_error", "The server failed to handle this request."), status=500
        )
    from django.views.defaults import server_error

    return server_error(request)


def json_or_html_403(request: HttpRequest, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body("permission_denied", "Permission denied."), status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def json_or_html_400(request: HttpRequest, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body("bad_request", "Bad request."), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)
