"""tenant_delete: suspended first, keys crypto-shredded, schema dropped, folder removed,
domains gone, the row kept as a `deleted` tombstone whose slug is never reused, and the
whole thing in the public audit chain."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context, schema_exists

from mlgov.audit.models import AuditEvent
from registry.artifact_store import _artifact_path, artifact_write
from tenants.errors import SlugTaken
from tenants.keys import (
    KeyDestroyed,
    data_key,
    data_key_for_new_artifacts,
    signing_key_current,
    signing_public_key,
    tenant_data_key_rotate,
)
from tenants.models import Domain, Tenant, TenantDataKey, TenantSigningKey
from tenants.services import tenant_create, tenant_delete


@pytest.fixture()
def artifact_root(settings, tmp_path):
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    return settings.ARTIFACT_ROOT


def doomed_tenant(slug: str = "doomed") -> Tenant:
    return tenant_create(
        acting_user=None, slug=slug, name="Doomed", owner_username="dora", owner_email="d@d.test"
    ).tenant


def public_events(action: str, slug: str) -> list[AuditEvent]:
    with schema_context("public"):
        return list(AuditEvent.objects.filter(action=action, object_id=slug).order_by("id"))


def write_artifacts(tenant: Tenant, payloads: list[bytes]):
    with schema_context(tenant.schema_name):
        return [
            artifact_write(kind="run_file", source=[payload], acting_user=None)
            for payload in payloads
        ]


def delete(tenant, operator, capture, reason="contract ended"):
    # The test's rows are not committed: their deferred foreign-key checks are still
    # pending, and PostgreSQL refuses to drop a table with pending trigger events. Run them
    # now, as a commit would have in production.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with capture(execute=True):  # the folder goes after commit
        return tenant_delete(acting_user=operator, tenant=tenant, reason=reason)


def test_deletion_shreds_keys_drops_schema_and_folder(
    db, operator, artifact_root, tmp_path, django_capture_on_commit_callbacks
):
    # given a tenant with artifacts under two data key versions and a signing key
    tenant = doomed_tenant()
    canary = b"DOOMED-CANARY-" + os.urandom(8).hex().encode()
    payloads = [canary + os.urandom(200), canary * 3000]
    artifacts = write_artifacts(tenant, payloads[:1])
    tenant_data_key_rotate(acting_user=None, tenant=tenant)
    artifacts += write_artifacts(tenant, payloads[1:])
    signing = signing_key_current(tenant)
    folder = Path(artifact_root) / tenant.schema_name
    backup = tmp_path / "backup"
    shutil.copytree(folder, backup)
    schema = tenant.schema_name

    # when olivia deletes it
    deleted = delete(tenant, operator, django_capture_on_commit_callbacks)

    # then the schema, the folder and the domain are gone
    assert not schema_exists(schema)
    assert not folder.exists()
    assert not Domain.objects.filter(domain="doomed").exists()
    # and the row stays as a tombstone nothing else finds
    assert (deleted.status, deleted.is_deleted) == ("deleted", True)
    assert deleted.deleted_at is not None
    assert not Tenant.objects.filter(slug="doomed").exists()
    assert Tenant.all_objects.get(slug="doomed").status == "deleted"
    # and every key row is kept, destroyed
    keys = TenantDataKey.objects.filter(tenant=deleted)
    assert [(k.version, k.state, k.wrapped_key) for k in keys] == [
        (1, "destroyed", None),
        (2, "destroyed", None),
    ]
    (signing_row,) = TenantSigningKey.objects.filter(tenant=deleted)
    assert signing_row.wrapped_private_key is None
    # (the public half stays: signatures made before still verify)
    assert signing_public_key(deleted, signing.version) == signing.public_key

    # when the files come back from the copy taken before deletion
    shutil.copytree(backup, folder)
    # then none of them can be decrypted: the keys they need are gone for good
    for artifact in artifacts:
        assert _artifact_path(schema, artifact.pk).exists()
        with pytest.raises(KeyDestroyed):
            data_key(deleted, artifact.key_version)
        # and the plaintext is nowhere in what came back
        assert canary not in _artifact_path(schema, artifact.pk).read_bytes()
    # and no new key is ever minted for it
    for make_key in (data_key_for_new_artifacts, signing_key_current):
        with pytest.raises(KeyDestroyed):
            make_key(deleted)
    with pytest.raises(KeyDestroyed):
        tenant_data_key_rotate(acting_user=None, tenant=deleted)


def test_deletion_is_in_the_public_audit_chain(
    db, operator, artifact_root, django_capture_on_commit_callbacks
):
    # given a tenant / when olivia deletes it
    tenant = doomed_tenant()
    delete(tenant, operator, django_capture_on_commit_callbacks, reason="customer request #42")
    # then suspension, key destruction and deletion are recorded in public, in that order
    suspend = public_events("tenant.suspend", "doomed")[-1]
    shred = public_events("keys.tenant_destroy", "doomed")[-1]
    (event,) = public_events("tenant.delete", "doomed")
    assert suspend.id < shred.id < event.id
    assert event.actor_username == "olivia"
    assert event.before["status"] == "suspended"
    assert event.after["status"] == "deleted"
    assert event.after["reason"] == "customer request #42"
    assert event.after["schema_dropped"] == tenant.schema_name
    assert event.after["domains_deleted"] == ["doomed"]


def test_deleted_tenant_path_is_404(
    db, operator, artifact_root, django_capture_on_commit_callbacks
):
    # given a tenant that answered
    tenant = doomed_tenant()
    assert Client().get("/t/doomed/api/v1/").status_code == 401
    # when it is deleted / then every path under it is a 404, never the public schema
    delete(tenant, operator, django_capture_on_commit_callbacks)
    for path in ["/t/doomed/", "/t/doomed/login/", "/t/doomed/api/v1/"]:
        assert Client().get(path).status_code == 404, path
    assert connection.schema_name == "public"


def test_slug_of_a_deleted_tenant_is_never_reused(
    db, operator, artifact_root, django_capture_on_commit_callbacks
):
    # given a deleted tenant
    delete(doomed_tenant(), operator, django_capture_on_commit_callbacks)
    # when someone creates a tenant with its slug / then 409 slug_taken, nothing created
    with pytest.raises(SlugTaken):
        doomed_tenant()
    assert Tenant.all_objects.filter(slug="doomed").count() == 1


def test_tenant_without_keys_yet_gets_none_after_deletion(
    db, operator, artifact_root, django_capture_on_commit_callbacks
):
    # given a tenant that never stored an artifact (no key rows to destroy)
    tenant = doomed_tenant()
    assert not TenantDataKey.objects.filter(tenant=tenant).exists()
    # when it is deleted / then a late writer (a worker still busy) gets no fresh key
    delete(tenant, operator, django_capture_on_commit_callbacks)
    with pytest.raises(KeyDestroyed):
        data_key_for_new_artifacts(tenant)
    with pytest.raises(KeyDestroyed):
        signing_key_current(tenant)
    assert not TenantDataKey.objects.filter(tenant=tenant).exists()


def test_deleting_again_changes_nothing(
    db, operator, artifact_root, django_capture_on_commit_callbacks
):
    # given a deleted tenant
    tenant = doomed_tenant()
    delete(tenant, operator, django_capture_on_commit_callbacks)
    # when the deletion is repeated (a retry after a timeout)
    again = delete(tenant, operator, django_capture_on_commit_callbacks)
    # then it is still deleted, and recorded once
    assert again.is_deleted
    assert len(public_events("tenant.delete", "doomed")) == 1


def test_other_tenants_are_untouched(
    alpha, beta, operator, artifact_root, django_capture_on_commit_callbacks
):
    # given alpha with an artifact
    (kept,) = write_artifacts(alpha, [b"alpha keeps this"])
    # when another tenant is deleted
    delete(doomed_tenant(), operator, django_capture_on_commit_callbacks)
    # then alpha's schema, keys and artifact are intact
    from registry.artifact_store import artifact_read_bytes

    assert schema_exists(alpha.schema_name)
    assert schema_exists(beta.schema_name)
    with schema_context(alpha.schema_name):
        assert artifact_read_bytes(kept) == b"alpha keeps this"
    assert Tenant.objects.filter(slug__in=["alpha", "beta"], status="active").count() == 2


def test_the_public_schema_cannot_be_deleted(db, operator):
    public = Tenant(slug="x", schema_name="public")
    with pytest.raises(ValueError):
        tenant_delete(acting_user=operator, tenant=public, reason="no")
