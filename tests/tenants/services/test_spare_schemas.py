"""Spare schemas: a new tenant takes a ready clone by renaming it; stale spares go."""

from django.db import connection
from django.test import override_settings
from django_tenants.utils import schema_context, schema_exists

from tenants.provisioning import spare_schemas_refill
from tenants.services import tenant_create
from tenants.spare_schemas import SPARE_PREFIX, _spares


def _spare_names():
    return _spares(SPARE_PREFIX)


@override_settings(MLGOV_SPARE_SCHEMAS=2)
def test_a_new_tenant_takes_a_ready_spare(db, django_capture_on_commit_callbacks):
    # given two ready spares
    assert spare_schemas_refill() == 2
    before = set(_spare_names())
    assert len(before) == 2
    # when a tenant is created
    with django_capture_on_commit_callbacks(execute=False):
        created = tenant_create(acting_user=None, slug="sparrow", name="Sparrow",
                                owner_username="sam", owner_email="sam@sparrow.test")
    # then one spare became its schema, with the template's rows and a working owner
    after = set(_spare_names())
    assert len(after) == 1
    assert after < before
    assert schema_exists(created.tenant.schema_name)
    with schema_context(created.tenant.schema_name):
        from django.contrib.auth.models import Group, User

        assert User.objects.get(username="sam").groups.filter(name="owner").exists()
        assert Group.objects.count() == 5
    # and the pool is refilled
    assert spare_schemas_refill() == 1
    assert len(_spare_names()) == 2


@override_settings(MLGOV_SPARE_SCHEMAS=1)
def test_spares_of_an_older_template_are_dropped(db):
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{SPARE_PREFIX}deadbeef_old"')
    spare_schemas_refill()
    names = _spare_names()
    assert f"{SPARE_PREFIX}deadbeef_old" not in names
    assert len(names) == 1


@override_settings(MLGOV_SPARE_SCHEMAS=0)
def test_without_spares_tenants_are_cloned(db):
    created = tenant_create(acting_user=None, slug="plain", name="Plain",
                            owner_username="pat", owner_email="pat@plain.test")
    assert schema_exists(created.tenant.schema_name)
    assert _spare_names() == []
