"""Associated data and wrap contexts encode unambiguously."""

from __future__ import annotations

from mlgov.crypto.context import (
    artifact_associated_data,
    data_key_context,
    signing_key_context,
)


def test_artifact_bindings_differ_in_every_field():
    base = artifact_associated_data(tenant_id="alpha", artifact_id="a-1", key_version=1)
    assert base == artifact_associated_data(tenant_id="alpha", artifact_id="a-1", key_version=1)
    others = [
        artifact_associated_data(tenant_id="beta", artifact_id="a-1", key_version=1),
        artifact_associated_data(tenant_id="alpha", artifact_id="a-2", key_version=1),
        artifact_associated_data(tenant_id="alpha", artifact_id="a-1", key_version=2),
    ]
    assert base not in others
    assert len(set(others)) == 3


def test_field_boundaries_cannot_shift():
    # "ab" + "c" and "a" + "bc" would collide under naive concatenation
    left = artifact_associated_data(tenant_id="ab", artifact_id="c", key_version=1)
    right = artifact_associated_data(tenant_id="a", artifact_id="bc", key_version=1)
    assert left != right


def test_purposes_are_separated():
    assert data_key_context(tenant_id="alpha", dek_version=1) != artifact_associated_data(
        tenant_id="alpha", artifact_id="", key_version=1
    )
    assert data_key_context(tenant_id="alpha", dek_version=1) != data_key_context(
        tenant_id="alpha", dek_version=2
    )


def test_signing_key_context_differs_from_the_data_key_context():
    assert signing_key_context(tenant_id="alpha", key_version=1) != data_key_context(
        tenant_id="alpha", dek_version=1
    )
    assert signing_key_context(tenant_id="alpha", key_version=1) != signing_key_context(
        tenant_id="beta", key_version=1
    )
