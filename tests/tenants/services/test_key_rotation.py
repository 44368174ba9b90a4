"""Key rotation in-process: new data key versions for a tenant, and rewrapping every key
under a new master key version (idempotent, skipping destroyed keys, refusing an
incomplete key ring before touching anything). The killed-half-way run is in
tests/tenants/commands/test_keys_rotate.py."""

from __future__ import annotations

import os

import pytest
from django_tenants.utils import schema_context

from mlgov.crypto.errors import UnknownKeyVersion
from registry.artifact_store import artifact_read_bytes, artifact_write
from tenants.keys import (
    data_key,
    keys_remaining_on_old_versions,
    master_key_rewrap_all,
    signing_key_current,
    tenant_data_key_rotate,
    tenant_keys_destroy,
)
from tenants.models import TenantDataKey, TenantSigningKey


@pytest.fixture(autouse=True)
def artifact_root(settings, tmp_path):
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"


@pytest.fixture()
def ring(settings):
    """The current key ring, and a way to add a new master key version to it."""
    old = dict(settings.MLGOV_MASTER_KEYS)

    def add_version():
        new_version = max(old) + 1
        settings.MLGOV_MASTER_KEYS = {**old, new_version: os.urandom(32)}
        return new_version

    return add_version


def write(tenant, payload: bytes):
    with schema_context(tenant.schema_name):
        return artifact_write(kind="run_file", source=[payload], acting_user=None)


def read(tenant, artifact) -> bytes:
    with schema_context(tenant.schema_name):
        return artifact_read_bytes(artifact)


def test_tenant_rotation_gives_new_artifacts_a_new_version(alpha):
    # given an artifact under alpha's current data key
    old = write(alpha, b"before rotation")
    # when alpha's data key is rotated
    row = tenant_data_key_rotate(acting_user=None, tenant=alpha)
    # then new artifacts use the new version, and the old one still decrypts
    new = write(alpha, b"after rotation")
    assert new.key_version == row.version == old.key_version + 1
    assert read(alpha, old) == b"before rotation"
    assert read(alpha, new) == b"after rotation"
    states = dict(TenantDataKey.objects.filter(tenant=alpha).values_list("version", "state"))
    assert states[old.key_version] == "decrypt_only"
    assert states[row.version] == "active"


def test_rewrap_moves_every_key_and_the_old_version_can_go(alpha, beta, ring, settings):
    # given artifacts and signing keys of two tenants under the current master key
    first = write(alpha, b"alpha artifact")
    second = write(beta, b"beta artifact")
    deks = {(k.tenant_id, k.version): data_key(k.tenant, k.version)
            for k in TenantDataKey.objects.select_related("tenant")}
    signing = signing_key_current(alpha)
    # when a new master key version is added and every key rewrapped
    new_version = ring()
    result = master_key_rewrap_all()
    # then every key is on the new version, and nothing remains on the old one
    total = TenantDataKey.objects.count() + TenantSigningKey.objects.count()
    assert result.rewrapped == total
    assert result.target_kek_version == new_version
    assert set(TenantDataKey.objects.values_list("kek_version", flat=True)) == {new_version}
    assert keys_remaining_on_old_versions() == {}
    # when run again / then nothing to do
    assert master_key_rewrap_all().rewrapped == 0
    # when the old version is removed from the ring
    settings.MLGOV_MASTER_KEYS = {new_version: settings.MLGOV_MASTER_KEYS[new_version]}
    # then every data key is the same key as before, artifacts decrypt, and signing works
    for (tenant_id, version), dek in deks.items():
        row = TenantDataKey.objects.select_related("tenant").get(
            tenant_id=tenant_id, version=version
        )
        assert data_key(row.tenant, version) == dek
    assert read(alpha, first) == b"alpha artifact"
    assert read(beta, second) == b"beta artifact"
    assert signing_key_current(alpha).private_key == signing.private_key


def test_rewrap_skips_keys_destroyed_while_it_runs(alpha, beta, ring):
    # given keys of both tenants, and a rewrap that destroys beta's keys after its first row
    write(alpha, b"a")
    write(beta, b"b")
    ring()
    destroyed = []

    def destroy_beta_once(row):
        if not destroyed:
            destroyed.append(tenant_keys_destroy(acting_user=None, tenant=beta))

    # when it runs / then it finishes, and beta's keys stay destroyed (never rewrapped)
    master_key_rewrap_all(on_row=destroy_beta_once)
    assert not TenantDataKey.objects.filter(tenant=beta).exclude(wrapped_key=None).exists()
    assert keys_remaining_on_old_versions() == {}


def test_rewrap_refuses_a_ring_without_a_version_in_use(alpha, settings):
    # given keys under the current master key
    write(alpha, b"a")
    before = list(TenantDataKey.objects.values_list("pk", "kek_version", "wrapped_key"))
    in_use = max(settings.MLGOV_MASTER_KEYS)
    # when the ring holds only a new version (the old one removed too early)
    settings.MLGOV_MASTER_KEYS = {in_use + 1: os.urandom(32)}
    # then the rewrap stops before the first row, naming the missing version
    with pytest.raises(UnknownKeyVersion) as raised:
        master_key_rewrap_all()
    assert raised.value.version == in_use
    after = list(TenantDataKey.objects.values_list("pk", "kek_version", "wrapped_key"))
    assert after == before
