"""mlgov: a self-hostable, multi-tenant ML governance platform."""

from mlgov.celery import app as celery_app

__all__ = ["celery_app"]
