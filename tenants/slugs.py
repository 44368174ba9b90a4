"""Tenant slugs: the path segment in /t/<slug>/ and, mapped, the schema name."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
MAX_SLUG_LENGTH = 40
RESERVED_SLUGS = frozenset(
    {
        "public",
        "template",
        "admin",
        "api",
        "static",
        "media",
        "healthz",
        "login",
        "logout",
        "t",
        "www",
        "mlgov",
        "system",
        "root",
        "operator",
        "operators",
        "information-schema",
        "pg-catalog",
        "pg-toast",
    }
)


def validate_slug(slug: str) -> str:
    """Return the slug if it may name a tenant, else raise ValidationError with a code."""
    if not isinstance(slug, str) or not slug:
        raise ValidationError("A tenant slug is required.", code="invalid_slug")
    if len(slug) > MAX_SLUG_LENGTH:
        raise ValidationError(
            f"A tenant slug has at most {MAX_SLUG_LENGTH} characters.", code="invalid_slug"
        )
    if not SLUG_PATTERN.match(slug):
        raise ValidationError(
            "A tenant slug uses lowercase letters, digits and single hyphens, "
            "and starts with a letter.",
            code="invalid_slug",
        )
    if slug in RESERVED_SLUGS:
        raise ValidationError(f"The slug {slug!r} is reserved.", code="reserved_slug")
    return slug


def schema_name_for(slug: str) -> str:
    """Slugs never hold underscores, so mapping hyphens to underscores cannot collide."""
    return "t_" + slug.replace("-", "_")
