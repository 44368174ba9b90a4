"""Request id and client address for every request, readable anywhere (audit, logs)."""

from __future__ import annotations

import contextvars
import ipaddress
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
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
    """The client's address. Behind reverse proxies listed in MLGOV_TRUSTED_PROXIES, the
    right-most X-Forwarded-For entry that is not one of them (entries further left can
    be forged by the client)."""
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = set(getattr(settings, "MLGOV_TRUSTED_PROXIES", ()))
    if remote is None or remote not in trusted:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([part for part in forwarded if part]):
        if address not in trusted:
            return address if _looks_like_ip(address) else remote
    return remote


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


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
