"""`manage.py tenant_delete <slug> --confirm <slug> --reason "..."`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from tenants.models import Tenant
from tenants.services import tenant_create


@pytest.fixture()
def doomed(db, settings, tmp_path):
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return tenant_create(
        acting_user=None, slug="doomed", name="Doomed", owner_username="dora",
        owner_email="d@d.test",
    ).tenant


def test_deletes_with_confirmation(doomed, django_capture_on_commit_callbacks):
    # given doomed / when the operator deletes it, repeating its slug
    out = StringIO()
    with connection.cursor() as cursor:  # uncommitted test rows; see the service test
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "tenant_delete", "doomed", "--confirm", "doomed", "--reason", "test", stdout=out
        )
    # then it is gone, and the command says what it did and what to do next
    assert Tenant.all_objects.get(slug="doomed").is_deleted
    assert not schema_exists(doomed.schema_name)
    assert "Deleted tenant 'doomed'" in out.getvalue()
    assert "rotate the master key" in out.getvalue()
    # and a second run says it was deleted already
    with pytest.raises(CommandError, match="deleted already"):
        call_command("tenant_delete", "doomed", "--confirm", "doomed", "--reason", "test")


@pytest.mark.parametrize("confirm", ["", "alpha", "DOOMED"])
def test_a_wrong_confirmation_deletes_nothing(doomed, confirm):
    with pytest.raises(CommandError, match="--confirm doomed"):
        call_command("tenant_delete", "doomed", "--confirm", confirm, "--reason", "test")
    assert Tenant.objects.get(slug="doomed").status == "active"
    assert schema_exists(doomed.schema_name)


def test_an_unknown_tenant_is_an_error(db):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("tenant_delete", "nope", "--confirm", "nope", "--reason", "test")
