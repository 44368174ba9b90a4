"""Path routing: /t/<slug>/... selects the tenant; everything else is the public schema.

The tenant's URLconf is one static module for every tenant: the middleware moves
`/t/<slug>` into the script prefix, so resolving and reversing need no per-tenant
URLconf (django-tenants' subfolder middleware rebuilds one and clears the URL caches
on every request, which costs a measurable share of each request).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import get_script_prefix, set_script_prefix

from mlgov.api.errors import error_body, json_or_html_404
from tenants.models import Tenant
from tenants.slugs import MAX_SLUG_LENGTH, SLUG_PATTERN

TENANT_PATH_PREFIX = "/t/"
PUBLIC_COOKIE_PATH = "/admin/"


def _tenant_slug(path_info: str) -> str | None:
    if not path_info.startswith(TENANT_PATH_PREFIX):
        return None
    slug, _, _ = path_info[len(TENANT_PATH_PREFIX) :].partition("/")
    return slug


class TenantPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        connection.set_schema_to_public()
        slug = _tenant_slug(request.path_info)
        if slug is None:
            request.tenant = None
            request.urlconf = settings.ROOT_URLCONF
            return self.get_response(request)

        # A segment that cannot be a slug (NUL bytes, 10 kB of junk) is a 404 without a query.
        well_formed = len(slug) <= MAX_SLUG_LENGTH and SLUG_PATTERN.match(slug) is not None
        tenant = (
            Tenant.objects.filter(slug=slug)
            .only("id", "slug", "schema_name", "name", "status", "plan_id")
            .first()
            if well_formed
            else None
        )
        if tenant is None or tenant.schema_name == "public":
            # Never fall back to the public schema for an unknown slug.
            return json_or_html_404(request)
        if tenant.is_suspended:
            return JsonResponse(
                error_body("tenant_suspended", f"The tenant {slug!r} is suspended."), status=403
            )
        tenant_prefix = f"{TENANT_PATH_PREFIX}{slug}"
        rest = request.path_info[len(tenant_prefix) :]
        if not rest:
            # /t/<slug> without its slash: resolve as the tenant's root.
            rest = "/"
        request.tenant = tenant
        request.tenant_path = tenant_prefix + "/"
        request.urlconf = settings.TENANT_URLCONF
        previous_prefix = get_script_prefix()
        request.path_info = rest
        set_script_prefix(request.META.get("SCRIPT_NAME", "") + tenant_prefix + "/")
        connection.set_tenant(tenant)
        try:
            response = self.get_response(request)
        finally:
            set_script_prefix(previous_prefix)
            connection.set_schema_to_public()
        if response.streaming:
            # A streaming body (an artifact download) is read after this returns: it must
            # run in the tenant's schema too, and leave `public` behind when done.
            response.streaming_content = _in_tenant_schema(tenant, response.streaming_content)
        return response


def _in_tenant_schema(tenant: Tenant, chunks):
    connection.set_tenant(tenant)
    try:
        yield from chunks
    finally:
        connection.set_schema_to_public()


class TenantCookiePathMiddleware:
    """Scope the session and CSRF cookies to /t/<slug>/ so tenants on one host never share
    them: signing in to one tenant does not sign you out of another (PITFALLS.md)."""

    COOKIE_SETTINGS = ("SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME", "LANGUAGE_COOKIE_NAME")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Public pages that sign in (the operators' admin) keep their cookies under /admin/:
        # a cookie of the same name on "/" would be sent along with the tenant's, and
        # Django keeps the last one, signing the user out of the tenant.
        cookie_path = getattr(request, "tenant_path", None) or PUBLIC_COOKIE_PATH
        for setting in self.COOKIE_SETTINGS:
            name = getattr(settings, setting)
            if name in response.cookies:
                response.cookies[name]["path"] = cookie_path
        return response
