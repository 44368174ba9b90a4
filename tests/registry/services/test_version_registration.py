"""Registering model versions: uploads and run files, inspection, signing, idempotency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from mlgov.crypto import signing
from registry import artifact_store
from registry.artifact_store import _artifact_path
from registry.model_loading import ModelLoadRefused, model_version_load
from registry.models import Artifact, LineageEdge, ModelCard
from registry.services import versions as versions_service
from registry.services.signing import PAYLOAD_SCHEMA, current_tenant
from registry.services.versions import (
    IdempotencyKeyReused,
    InvalidMetrics,
    ModelFileTooLarge,
    ModelFormatUnknown,
    RunArtifactNotFound,
    UnsafePath,
    model_card_put,
    model_version_register_from_run,
    model_version_register_upload,
)
from tenants.keys import signing_public_key
from tests.conftest import user_in
from tests.registry.model_world import (
    EVIL_PICKLE,
    joblib_bytes,
    log_file,
    make_experiment,
    make_model,
    make_run,
    pickle_bytes,
    sklearn_classifier,
    skops_bytes,
)

CANARY = Path("/tmp/mlgov-pwned")


@pytest.fixture()
def world(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        yield alice, make_model(alice, "churn")


def _upload(world, payload: bytes, fmt: str | None = None, name: str = "", **fields):
    alice, model = world
    return model_version_register_upload(
        acting_user=alice,
        model=model,
        source=[payload],
        file_name=name,
        model_format=fmt,
        **fields,
    )


@pytest.mark.parametrize(
    ("fmt", "dump"), [("skops", skops_bytes), ("pickle", pickle_bytes), ("joblib", joblib_bytes)]
)
def test_a_real_sklearn_model_is_verified_signed_and_loads_like_the_original(world, fmt, dump):
    # given a small fitted classifier
    classifier, rows = sklearn_classifier()
    # when it is uploaded in each format
    registration = _upload(
        world,
        dump(classifier),
        fmt,
        signature={"inputs": [{"name": "x0", "type": "double"}]},
        metrics={"auc": 0.91},
    )
    version = registration.version
    # then it is verified and signed over the canonical payload
    assert registration.created
    assert version.verified, version.verification_detail
    assert (version.version, version.model_format, version.flavor) == (1, fmt, "sklearn")
    payload = version.signed_payload
    assert payload["schema"] == PAYLOAD_SCHEMA
    assert payload["sha256"] == version.sha256
    assert (payload["tenant"], payload["model_name"], payload["version"]) == ("alpha", "churn", 1)
    public_key = signing_public_key(current_tenant(), version.signing_key_version)
    signing.verify(public_key, payload, version.ed25519_signature)
    assert version.metrics == {"auc": 0.91}
    # and loading it (through the one loader) predicts like the original
    loaded = model_version_load(version)
    np.testing.assert_array_equal(loaded.predict(rows), classifier.predict(rows))
    event = AuditEvent.objects.get(action="model_version.create", object_id=str(version.pk))
    assert event.after["verified"] is True
    assert event.after["source"] == "upload"


def test_an_unverified_pickle_is_kept_but_never_loaded(world):
    CANARY.unlink(missing_ok=True)
    # when a pickle that calls os.system is uploaded
    version = _upload(world, EVIL_PICKLE, "pickle").version
    # then it is kept, unverified and unsigned, with the reasons recorded
    assert not version.verified
    assert "system" in version.verification_detail
    assert version.ed25519_signature == ""
    assert version.signing_key_version is None
    # and the loader refuses it, without ever unpickling it
    with pytest.raises(ModelLoadRefused, match="not verified"):
        model_version_load(version)
    assert not CANARY.exists()
    assert AuditEvent.objects.filter(
        action="model_version.load_refused", object_id=str(version.pk)
    ).exists()


def test_format_is_inferred_from_the_name_or_refused(world):
    classifier, _ = sklearn_classifier()
    assert _upload(world, skops_bytes(classifier), name="m.skops").version.model_format == "skops"
    assert _upload(world, pickle_bytes(classifier), name="m.pkl").version.model_format == "pickle"
    with pytest.raises(ModelFormatUnknown):
        _upload(world, b"x", name="model.bin")
    with pytest.raises(ModelFormatUnknown):
        _upload(world, b"x", "cloudpickle")


def test_non_numeric_metrics_are_refused(world):
    for metrics in ({"auc": "high"}, {"auc": float("nan")}, {"auc": True}):
        with pytest.raises(InvalidMetrics):
            _upload(world, b"x", "pickle", metrics=metrics)


def test_an_upload_over_the_limit_is_refused_and_keeps_nothing(world, settings):
    settings.MLGOV_MODEL_MAX_BYTES = 10
    with pytest.raises(ModelFileTooLarge):
        _upload(world, b"x" * 11, "pickle")
    assert not Artifact.objects.filter(kind="model").exists()
    assert not world[1].versions.exists()


def test_a_failed_registration_removes_the_file_it_wrote(world, monkeypatch, alpha):
    # given an upload whose inspection fails after its file was written
    written = []

    def recording_write(**kwargs):
        written.append(artifact_store.artifact_write(**kwargs))
        return written[-1]

    def failing_inspection(artifact, model_format):
        raise RuntimeError("inspection crashed")

    monkeypatch.setattr(versions_service, "artifact_write", recording_write)
    monkeypatch.setattr(versions_service, "inspect_artifact", failing_inspection)
    # when it is registered / then the error surfaces and the encrypted file is gone too
    with pytest.raises(RuntimeError):
        _upload(world, b"model bytes", "pickle")
    assert len(written) == 1
    assert not _artifact_path(alpha.schema_name, written[0].pk).exists()
    assert not world[1].versions.exists()


def test_idempotency_key_returns_the_existing_version(world, alpha):
    alice, model = world
    classifier, _ = sklearn_classifier()
    first = _upload(world, skops_bytes(classifier), "skops", idempotency_key="job-7:attempt")
    # when a redelivered job registers again with the same key
    again = _upload(world, b"different bytes", "skops", idempotency_key="job-7:attempt")
    # then it gets the first version back and nothing new is made
    assert not again.created
    assert again.version.pk == first.version.pk
    assert model.versions.count() == 1
    # and the key cannot register a version of another model
    other = make_model(alice, "other")
    with pytest.raises(IdempotencyKeyReused):
        model_version_register_upload(
            acting_user=alice,
            model=other,
            source=[b"x"],
            model_format="skops",
            idempotency_key="job-7:attempt",
        )


def test_register_from_a_run_references_its_artifact_and_links_lineage(world):
    alice, model = world
    classifier, rows = sklearn_classifier()
    run = make_run(make_experiment(alice), alice)
    logged = log_file(run, "model/model.skops", skops_bytes(classifier))
    # when the run's file is registered
    registration = model_version_register_from_run(
        acting_user=alice,
        model=model,
        run=run,
        artifact_path="model/model.skops",
        description="from training",
        tags={"seed": "0"},
    )
    version = registration.version
    # then the version references the run's stored artifact (no copy) and is signed
    assert version.artifact_id == logged.artifact_id
    assert version.run == run
    assert version.verified
    assert version.ed25519_signature
    assert {t.key: t.value for t in version.tags.all()} == {"seed": "0"}
    assert LineageEdge.objects.filter(
        source_type="run",
        source_id=str(run.pk),
        target_type="model_version",
        target_id=str(version.pk),
        relation="produced",
    ).exists()
    np.testing.assert_array_equal(
        model_version_load(version).predict(rows), classifier.predict(rows)
    )


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("model/missing.skops", RunArtifactNotFound),
        ("../model/model.skops", UnsafePath),
        ("%2e%2e%2fmodel.skops", UnsafePath),
        ("/etc/passwd", UnsafePath),
    ],
)
def test_register_from_a_run_refuses_missing_and_unsafe_paths(world, path, error):
    alice, model = world
    run = make_run(make_experiment(alice), alice)
    log_file(run, "model/model.skops", b"x")
    with pytest.raises(error):
        model_version_register_from_run(
            acting_user=alice, model=model, run=run, artifact_path=path, model_format="skops"
        )
    assert model.versions.count() == 0


def test_model_card_put_replaces_and_audits(world):
    alice, _ = world
    version = _upload(world, EVIL_PICKLE, "pickle").version
    model_card_put(
        acting_user=alice, version=version, intended_use="churn scoring", owners="growth team"
    )
    card = model_card_put(acting_user=alice, version=version, limitations="EU only")
    assert (card.intended_use, card.limitations) == ("", "EU only")
    assert ModelCard.objects.filter(model_version=version).count() == 1
    event = AuditEvent.objects.filter(action="model_card.update").latest("sequence")
    assert event.before["intended_use"] == "churn scoring"
    assert event.after["limitations"] == "EU only"
