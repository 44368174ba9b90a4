"""`manage.py keys_rotate_master` in a real process, SIGKILLed half-way and run again: no key
is lost, every artifact still decrypts, a third run has nothing to do, and the old master
key can then be removed. `manage.py keys_rotate_tenant`: a new data key version."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context

from mlgov.crypto.context import data_key_context, signing_key_context
from mlgov.crypto.envelope import KeyRing, unwrap_key, wrap_key
from mlgov.crypto.signing import sign, verify
from registry.artifact_store import artifact_read_bytes, artifact_write
from tenants.keys import signing_key_current, signing_public_key, tenant_data_key_rotate
from tenants.models import Tenant, TenantDataKey, TenantSigningKey
from tenants.services import tenant_create

BASE_DIR = Path(django_settings.BASE_DIR)
EXTRA_TENANTS = 3
# Enough rows that the rewrap (one row per transaction, ~1-5 ms each) is still running
# when the poll below sees its first 50 rows done; no test-only knob in the command.
EXTRA_VERSIONS_PER_TENANT = 200


def _database_url() -> str:
    params = connection.settings_dict
    user = quote(params["USER"] or "")
    password = f":{quote(params['PASSWORD'])}" if params.get("PASSWORD") else ""
    return (
        f"postgresql://{user}{password}@{params['HOST'] or '127.0.0.1'}:"
        f"{params['PORT'] or 5432}/{params['NAME']}"
    )


def _ring_text(keys: dict[int, bytes]) -> str:
    return ",".join(f"v{v}:{base64.b64encode(k).decode()}" for v, k in sorted(keys.items()))


def _rotate_master(keys: dict[int, bytes]) -> subprocess.Popen:
    env = {
        **os.environ,
        "MLGOV_ENV": "test",
        "DATABASE_URL": _database_url(),
        "MLGOV_MASTER_KEY": _ring_text(keys),
    }
    env.pop("MLGOV_MASTER_KEY_FILE", None)
    return subprocess.Popen(
        [sys.executable, "manage.py", "keys_rotate_master"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wrapped_rows():
    """(model, wrapped field, context) for every kind of wrapped key."""
    return (
        (TenantDataKey, "wrapped_key",
         lambda r: data_key_context(tenant_id=r.tenant_id, dek_version=r.version)),
        (TenantSigningKey, "wrapped_private_key",
         lambda r: signing_key_context(tenant_id=r.tenant_id, key_version=r.version)),
    )


def _plain_keys(ring: KeyRing) -> dict[tuple[str, int], bytes]:
    """Every live key of the database, unwrapped: what must survive the rotation."""
    keys = {}
    for model, field, context in _wrapped_rows():
        for row in model.objects.exclude(**{f"{field}__isnull": True}):
            keys[(model.__name__, row.pk)] = ring.unwrap(bytes(getattr(row, field)), context(row))
    return keys


def _count_on(version: int) -> int:
    return (
        TenantDataKey.objects.filter(kek_version=version).exclude(wrapped_key=None).count()
        + TenantSigningKey.objects.filter(kek_version=version)
        .exclude(wrapped_private_key=None)
        .count()
    )


def _wrap_everything_back(old_version: int, old_key: bytes, ring: KeyRing) -> None:
    """The rest of the session runs with the old key ring: put every key back under it."""
    for model, field, context in _wrapped_rows():
        for row in model.objects.exclude(kek_version=old_version).exclude(
            **{f"{field}__isnull": True}
        ):
            plain = ring.unwrap(bytes(getattr(row, field)), context(row))
            setattr(row, field, wrap_key(old_key, old_version, plain, context(row)))
            row.kek_version = old_version
            row.save(update_fields=[field, "kek_version"])


def _many_old_data_keys(tenant: Tenant, ring: KeyRing) -> None:
    """Older (decrypt-only) data key versions, wrapped like real ones."""
    TenantDataKey.objects.bulk_create(
        TenantDataKey(
            tenant=tenant,
            version=version,
            wrapped_key=ring.wrap(
                os.urandom(32), data_key_context(tenant_id=tenant.pk, dek_version=version)
            ),
            kek_version=ring.current_version,
            state=TenantDataKey.State.DECRYPT_ONLY,
        )
        for version in range(1001, 1001 + EXTRA_VERSIONS_PER_TENANT)
    )


def test_master_rotation_killed_half_way_loses_nothing(
    committed_tenant, django_db_blocker, settings, tmp_path
):
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    old_keys = dict(settings.MLGOV_MASTER_KEYS)
    old_version = max(old_keys)
    new_version = old_version + 1
    both = {**old_keys, new_version: os.urandom(32)}
    with django_db_blocker.unblock():
        # given a tenant with artifacts under two data key versions and a signing key,
        tenant = committed_tenant
        payloads = [os.urandom(size) for size in (10, 70_000, 1_500_000)]
        with schema_context(tenant.schema_name):
            artifacts = [
                artifact_write(kind="run_file", source=[p], acting_user=None) for p in payloads
            ]
        tenant_data_key_rotate(acting_user=None, tenant=tenant)
        payloads.append(b"under data key v2")
        with schema_context(tenant.schema_name):
            artifacts.append(
                artifact_write(kind="run_file", source=[payloads[-1]], acting_user=None)
            )
        signer = signing_key_current(tenant)
        signature = sign(signer.private_key, {"model": "m", "version": 1})
        # and other tenants with many keys each (all committed)
        ring = KeyRing(old_keys)
        for n in range(EXTRA_TENANTS):
            extra = tenant_create(
                acting_user=None, slug=f"{tenant.slug}-x{n}", name="Extra",
                owner_username="o", owner_email="o@x.test",
            ).tenant
            _many_old_data_keys(extra, ring)
            signing_key_current(extra)
        connection.set_schema_to_public()
        before = _plain_keys(ring)
        total = len(before)
        assert total > EXTRA_TENANTS * EXTRA_VERSIONS_PER_TENANT
        process = None
        try:
            # when a rotation to a new master key version is killed half-way
            process = _rotate_master(both)
            deadline = time.monotonic() + 120
            while (done := _count_on(new_version)) < 50:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the rotation never started"
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            assert process.returncode == -signal.SIGKILL
            # then some keys are on the new version, the others on the old one, and every
            # one of them still opens to the same key with both versions in the ring
            killed_at = _count_on(new_version)
            assert done <= killed_at < total, "the rotation finished before it was killed"
            assert _count_on(old_version) == total - killed_at
            assert _plain_keys(KeyRing(both)) == before

            # when it is run again
            process = _rotate_master(both)
            out, err = process.communicate(timeout=300)
            # then it finishes what was left: every key on the new version, none lost
            assert process.returncode == 0, err
            assert f"Rewrapped {total - killed_at} keys under master key v{new_version}" in out
            assert _count_on(new_version) == total
            assert _plain_keys(KeyRing(both)) == before

            # when run once more / then there is nothing left to do
            process = _rotate_master(both)
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            assert f"Rewrapped 0 keys under master key v{new_version}" in out
            assert "remove those versions" in out

            # when the old version is removed from the key ring
            settings.MLGOV_MASTER_KEYS = {new_version: both[new_version]}
            only_new = KeyRing(settings.MLGOV_MASTER_KEYS)
            # then every key still opens, every artifact decrypts to its bytes and digest,
            # and the tenant still signs with the same key
            assert _plain_keys(only_new) == before
            with schema_context(tenant.schema_name):
                for artifact, payload in zip(artifacts, payloads, strict=True):
                    assert artifact_read_bytes(artifact) == payload
            assert signing_key_current(tenant).private_key == signer.private_key
            verify(signing_public_key(tenant, signer.version), {"model": "m", "version": 1},
                   signature)
            # and a key ring without the new version could not open them any more
            row = TenantDataKey.objects.filter(tenant=tenant).first()
            with pytest.raises(Exception):  # noqa: B017 - any refusal will do
                unwrap_key(old_keys[old_version], bytes(row.wrapped_key), data_key_context(
                    tenant_id=row.tenant_id, dek_version=row.version))
        finally:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            _wrap_everything_back(old_version, old_keys[old_version], KeyRing(both))


def test_keys_rotate_tenant_starts_a_new_version(alpha, settings, tmp_path):
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    # given an artifact under alpha's current data key
    with schema_context(alpha.schema_name):
        old = artifact_write(kind="run_file", source=[b"old"], acting_user=None)
    # when the operator rotates alpha's data key
    out = StringIO()
    call_command("keys_rotate_tenant", "alpha", stdout=out)
    # then new artifacts use the next version, and the old artifact still decrypts
    with schema_context(alpha.schema_name):
        new = artifact_write(kind="run_file", source=[b"new"], acting_user=None)
        assert new.key_version == old.key_version + 1
        assert f"data key v{new.key_version}" in out.getvalue()
        assert artifact_read_bytes(old) == b"old"
        assert artifact_read_bytes(new) == b"new"


def test_keys_rotate_tenant_refuses_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("keys_rotate_tenant", "nope")
