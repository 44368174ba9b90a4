"""Version numbers per model stay unique when registrations race (committed data)."""

from __future__ import annotations

import threading

from django.db import connection, connections
from django_tenants.utils import schema_context

from registry.models import ModelVersion
from registry.services.versions import model_version_register_upload
from tests.conftest import user_in
from tests.registry.model_world import make_model, sklearn_classifier, skops_bytes

THREADS = 4


def test_concurrent_registrations_get_distinct_consecutive_numbers(
    django_db_setup, committed_tenant
):
    # (django_db_setup first: committed_tenant alone does not create the test database)
    # given a committed model and a model file
    with schema_context(committed_tenant.schema_name):
        model = make_model(user_in(committed_tenant, "maint"), "raced")
    payload = skops_bytes(sklearn_classifier()[0])
    barrier = threading.Barrier(THREADS)
    results: list[int] = []
    errors: list[BaseException] = []

    def register(index: int) -> None:
        try:
            with schema_context(committed_tenant.schema_name):
                user = user_in(committed_tenant, "maint")
                barrier.wait(timeout=30)
                registration = model_version_register_upload(
                    acting_user=user,
                    model=model,
                    source=[payload],
                    model_format="skops",
                    description=f"thread {index}",
                )
                results.append(registration.version.version)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    # when several threads register at the same moment, each on its own connection
    threads = [threading.Thread(target=register, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then every registration succeeded with its own number, 1..N, and all are signed
    assert errors == []
    assert sorted(results) == list(range(1, THREADS + 1))
    with schema_context(committed_tenant.schema_name):
        rows = ModelVersion.objects.filter(registered_model=model)
        assert sorted(rows.values_list("version", flat=True)) == list(range(1, THREADS + 1))
        assert all(row.verified and row.ed25519_signature for row in rows)
    connection.set_schema_to_public()
