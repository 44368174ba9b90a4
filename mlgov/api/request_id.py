"""Request id and client address for every request, readable anywhere (audit, logs)."""

from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip_address: str | None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "mlgov_request_context", default=None
)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current_request_context() -> RequestContext | None:
    return _current.get()


def bind_request_context(context: RequestContext | None) -> contextvars.Token:
    """Bind a context outside a request (a Celery task, a command)."""
    return _current.set(context)


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR is the proxy's address behind a reverse proxy; the deployment
    # guide tells operators to have the proxy set it (gunicorn --forwarded-allow-ips).
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    """Takes a well-formed X-Request-ID from the client or makes one, and echoes it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = _current.set(RequestContext(request_id=request_id, ip_address=_client_ip(request)))
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response["X-Request-ID"] = request_id
        return response
