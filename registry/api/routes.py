"""Registry endpoints under /t/<slug>/api/v1/: each topic registers its viewsets here."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter


def register(router: DefaultRouter) -> None:
    """Called once by mlgov.urls_tenants. Keep one line per viewset, grouped by topic."""
    # datasets
    # experiments and runs
    # registered models, versions, lineage
