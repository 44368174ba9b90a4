"""model_version_load refuses anything whose signature or digest does not hold."""

from __future__ import annotations

import shutil

import pytest
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from registry.artifact_store import _artifact_path
from registry.model_loading import ModelLoadRefused, model_version_load
from registry.models import Artifact, ModelVersion
from registry.services.versions import model_version_register_upload
from tests.conftest import user_in
from tests.registry.model_world import (
    EVIL_PICKLE,
    make_model,
    pickle_bytes,
    sklearn_classifier,
    skops_bytes,
)


@pytest.fixture()
def signed(alpha):
    """Two signed versions of alice's model (skops, then pickle)."""
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        model = make_model(alice, "churn")
        classifier, _ = sklearn_classifier()
        versions = [
            model_version_register_upload(
                acting_user=alice, model=model, source=[dump(classifier)], model_format=fmt
            ).version
            for fmt, dump in (("skops", skops_bytes), ("pickle", pickle_bytes))
        ]
        assert all(v.verified and v.ed25519_signature for v in versions)
        model_version_load(versions[0])  # loads while untouched
        yield alpha, versions


def _refused(version: ModelVersion, match: str | None = None) -> None:
    with pytest.raises(ModelLoadRefused, match=match):
        model_version_load(version)
    assert AuditEvent.objects.filter(
        action="model_version.load_refused", object_id=str(version.pk)
    ).exists()


@pytest.mark.parametrize("offset", [0, 40, 200, -1])
def test_a_tampered_artifact_file_is_refused(signed, offset):
    alpha, (version, _) = signed
    path = _artifact_path(alpha.schema_name, version.artifact_id)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    _refused(version, "integrity")


def test_another_versions_ciphertext_in_place_is_refused(signed):
    alpha, (first, second) = signed
    shutil.copy(
        _artifact_path(alpha.schema_name, second.artifact_id),
        _artifact_path(alpha.schema_name, first.artifact_id),
    )
    _refused(first)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sha256", "0" * 64),
        ("model_format", "pickle"),
        ("version", 9),
        ("model_id", 424242),
        ("tenant", "beta"),
        ("created_at", "2020-01-01T00:00:00+00:00"),
        ("io_signature", {"inputs": []}),
    ],
)
def test_a_modified_signed_payload_is_refused(signed, field, value):
    _, (version, _) = signed
    payload = dict(version.signed_payload)
    payload[field] = value
    ModelVersion.objects.filter(pk=version.pk).update(signed_payload=payload)
    _refused(version, "does not verify")


def test_a_modified_signature_is_refused(signed):
    _, (version, _) = signed
    other = signed[1][1].ed25519_signature
    for signature in (other, "not base64!", ""):
        ModelVersion.objects.filter(pk=version.pk).update(ed25519_signature=signature)
        _refused(version)


@pytest.mark.parametrize(
    "update",
    [
        {"sha256": "0" * 64},
        {"model_format": "pickle"},
        {"version": 7},
        {"signature": {"inputs": ["changed"]}},
        {"signing_key_version": 99},
        {"signing_key_version": None},
    ],
)
def test_a_row_edited_behind_the_payloads_back_is_refused(signed, update):
    _, (version, _) = signed
    ModelVersion.objects.filter(pk=version.pk).update(**update)
    _refused(version)


def test_an_artifact_digest_edited_in_the_database_is_refused(signed):
    _, (version, _) = signed
    Artifact.objects.filter(pk=version.artifact_id).update(sha256="f" * 64)
    _refused(version, "artifact.sha256")


def test_a_payload_copied_from_another_version_is_refused(signed):
    _, (first, second) = signed
    ModelVersion.objects.filter(pk=first.pk).update(
        signed_payload=second.signed_payload, ed25519_signature=second.ed25519_signature
    )
    _refused(first, "no longer matches")


def test_flipping_verified_on_an_unverified_pickle_does_not_make_it_loadable(signed):
    _, (version, _) = signed
    alice = user_in(signed[0], "alice")
    evil = model_version_register_upload(
        acting_user=alice,
        model=version.registered_model,
        source=[EVIL_PICKLE],
        model_format="pickle",
    ).version
    ModelVersion.objects.filter(pk=evil.pk).update(verified=True)
    _refused(evil, "no signature")
    # even with a valid signature copied over, the digest binds the other file
    ModelVersion.objects.filter(pk=evil.pk).update(
        signed_payload=version.signed_payload,
        ed25519_signature=version.ed25519_signature,
        signing_key_version=version.signing_key_version,
    )
    _refused(evil)


def test_a_renamed_model_still_loads(signed):
    # a rename is legitimate: the payload binds the model's id, not its current name
    alpha, (version, _) = signed
    from registry.services.models import registered_model_update

    registered_model_update(
        acting_user=user_in(alpha, "alice"), model=version.registered_model, name="renamed"
    )
    assert model_version_load(version) is not None
