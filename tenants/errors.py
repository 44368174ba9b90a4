"""Domain errors of tenant services; the API maps each to a status and code."""

from __future__ import annotations


class TenantError(Exception):
    code = "tenant_error"
    status = 400

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidSlug(TenantError):
    code = "invalid_slug"


class SlugTaken(TenantError):
    code = "slug_taken"
    status = 409


class TemplateMissing(TenantError):
    code = "template_missing"
    status = 503
