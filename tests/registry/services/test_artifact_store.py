"""The encrypted artifact store: round trips, tamper detection, binding, canaries."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from registry.artifact_store import (
    ArtifactCorrupted,
    ArtifactTooLarge,
    _artifact_path,
    artifact_chunks,
    artifact_read_bytes,
    artifact_write,
)
from tenants.keys import tenant_data_key_rotate


def _write(payload: bytes, **kwargs):
    return artifact_write(kind="run_file", source=[payload], acting_user=None, **kwargs)


def test_round_trip_records_digest_and_size(alpha):
    with schema_context(alpha.schema_name):
        payload = os.urandom(3 * 1024 * 1024 + 17)
        artifact = _write(payload)
        assert artifact_read_bytes(artifact) == payload
        assert artifact.size_bytes == len(payload)
        import hashlib

        assert artifact.sha256 == hashlib.sha256(payload).hexdigest()


def test_plaintext_canary_is_nowhere_on_disk(alpha):
    canary = b"CANARY-" + os.urandom(8).hex().encode() + b"-END"
    with schema_context(alpha.schema_name):
        artifact = _write(canary * 1000)
    root = Path(settings.ARTIFACT_ROOT)
    for path in root.rglob("*"):
        if path.is_file():
            assert canary not in path.read_bytes(), path
    assert _artifact_path(alpha.schema_name, artifact.pk).exists()


@pytest.mark.parametrize("offset", [0, 5, 40, 60, 1000, -1])
def test_any_flipped_byte_is_refused_and_audited(alpha, offset):
    with schema_context(alpha.schema_name):
        artifact = _write(os.urandom(5000))
        path = _artifact_path(alpha.schema_name, artifact.pk)
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(ArtifactCorrupted):
            b"".join(artifact_chunks(artifact))
        assert AuditEvent.objects.filter(
            action="artifact.integrity_failure", object_id=str(artifact.pk)
        ).exists()


def test_ciphertext_moved_to_another_artifact_fails(alpha):
    with schema_context(alpha.schema_name):
        first = _write(b"first artifact")
        second = _write(b"second artifact")
        shutil.copy(
            _artifact_path(alpha.schema_name, first.pk),
            _artifact_path(alpha.schema_name, second.pk),
        )
        with pytest.raises(ArtifactCorrupted):
            artifact_read_bytes(second)


def test_ciphertext_moved_to_another_tenant_fails(alpha, beta):
    with schema_context(alpha.schema_name):
        source = _write(b"alpha's secret")
    with schema_context(beta.schema_name):
        target = _write(b"beta's file")
        target_path = _artifact_path(beta.schema_name, target.pk)
        shutil.copy(_artifact_path(alpha.schema_name, source.pk), target_path)
        with pytest.raises(ArtifactCorrupted):
            artifact_read_bytes(target)


def test_over_the_limit_keeps_nothing(alpha):
    with schema_context(alpha.schema_name):
        directory = Path(settings.ARTIFACT_ROOT) / alpha.schema_name
        before = {p for p in directory.rglob("*")} if directory.exists() else set()
        with pytest.raises(ArtifactTooLarge):
            artifact_write(
                kind="dataset", source=[b"x" * 1000] * 10, acting_user=None, max_bytes=5000
            )
        after = {p for p in directory.rglob("*") if p.is_file()}
        assert {p for p in after if p.name.startswith(".upload-")} == set()
        assert after <= before


def test_old_artifacts_decrypt_after_tenant_key_rotation(alpha):
    with schema_context(alpha.schema_name):
        old = _write(b"encrypted with v1")
    rotated = tenant_data_key_rotate(acting_user=None, tenant=alpha)
    with schema_context(alpha.schema_name):
        new = _write(b"encrypted with the new version")
        assert new.key_version == rotated.version != old.key_version
        assert artifact_read_bytes(old) == b"encrypted with v1"
        assert artifact_read_bytes(new) == b"encrypted with the new version"
