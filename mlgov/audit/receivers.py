"""The one signal receiver of the audit app: failed sign-ins.

STYLE.md rule 8 keeps signals out of domain logic and audit. A failed sign-in is the
exception: it happens inside `django.contrib.auth.authenticate()` (every caller: the
console, the admin, django-axes' lock-out), which reports it only through the
`user_login_failed` signal. No service of ours runs there to record it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from mlgov.api.request_id import (
    RequestContext,
    bind_request_context,
    current_request_context,
)
from mlgov.audit.recorder import record_event_atomically

LOGIN_FAILED_ACTION = "auth.login_failed"
ANONYMOUS_ACTOR = "anonymous"


def login_failed_record(
    sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any
) -> None:
    """Record `auth.login_failed` in the current schema's chain, in its own transaction:
    the user name tried (as the object), whether django-axes had locked it out, and the
    request id and IP of the request."""
    username = str(credentials.get(get_user_model().USERNAME_FIELD, "") or "")
    token = None
    if current_request_context() is None and request is not None:
        # authenticate() called outside the request middleware (a test, a shell).
        token = bind_request_context(
            RequestContext(request_id="", ip_address=request.META.get("REMOTE_ADDR") or None)
        )
    try:
        record_event_atomically(
            actor=None,
            actor_username=ANONYMOUS_ACTOR,
            action=LOGIN_FAILED_ACTION,
            object_type="user",
            object_id=username[:100],
            after={
                "username": username[:150],
                "locked_out": bool(getattr(request, "axes_locked_out", False)),
            },
        )
    finally:
        if token is not None:
            token.var.reset(token)
