"""Ed25519 over canonical JSON: a signature verifies for its payload and key only."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlgov.crypto.errors import SignatureInvalid
from mlgov.crypto.signing import (
    canonical_json,
    generate_signing_key,
    key_id,
    load_private_key,
    load_public_key,
    private_key_to_bytes,
    public_key_for,
    public_key_to_bytes,
    sign,
    verify,
)

PAYLOAD = {
    "model_version": "mv-42",
    "sha256": "ab" * 32,
    "metrics": {"f1": 0.875, "auc": 0.9},
    "tags": ["skops", "classification"],
    "owner": "alice",
    "note": "café ✓",
    "approved": True,
    "parent": None,
}


@pytest.fixture()
def private_key() -> bytes:
    return generate_signing_key()


def test_canonical_json_sorts_keys_without_whitespace():
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": "é"}}) == (
        '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()
    )


def test_canonical_json_refuses_nan():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_signature_verifies(private_key):
    signature = sign(private_key, PAYLOAD)
    verify(public_key_for(private_key), PAYLOAD, signature)  # does not raise
    assert len(base64.b64decode(signature)) == 64


def test_signature_survives_key_order_and_a_json_round_trip(private_key):
    signature = sign(private_key, PAYLOAD)
    reordered = dict(reversed(list(PAYLOAD.items())))
    verify(public_key_for(private_key), reordered, signature)
    verify(public_key_for(private_key), json.loads(json.dumps(PAYLOAD)), signature)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.update(sha256="cd" * 32),
        lambda p: p.update(owner="mallory"),
        lambda p: p["metrics"].update(f1=0.876),
        lambda p: p["tags"].append("extra"),
        lambda p: p.update(extra=1),
        lambda p: p.pop("parent"),
        lambda p: p.update(approved=1),
        lambda p: p.update(note="cafe ✓"),
    ],
    ids=["digest", "owner", "nested metric", "list", "added key", "removed key", "type", "accent"],
)
def test_any_change_to_the_payload_fails(private_key, change):
    signature = sign(private_key, PAYLOAD)
    changed = json.loads(json.dumps(PAYLOAD))
    change(changed)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(public_key_for(private_key), changed, signature)


def test_any_change_to_the_signature_fails(private_key):
    public_key = public_key_for(private_key)
    raw = base64.b64decode(sign(private_key, PAYLOAD))
    for position in range(len(raw)):
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        with pytest.raises(SignatureInvalid):
            verify(public_key, PAYLOAD, base64.b64encode(bytes(tampered)).decode())


@pytest.mark.parametrize(
    "signature",
    ["", "not base64!", base64.b64encode(b"x" * 63).decode(), base64.b64encode(b"x" * 65).decode()],
    ids=["empty", "not base64", "63 bytes", "65 bytes"],
)
def test_malformed_signatures_fail(private_key, signature):
    with pytest.raises(SignatureInvalid):
        verify(public_key_for(private_key), PAYLOAD, signature)


def test_another_key_fails(private_key):
    signature = sign(private_key, PAYLOAD)
    with pytest.raises(SignatureInvalid):
        verify(public_key_for(generate_signing_key()), PAYLOAD, signature)


def test_keys_round_trip_through_raw_bytes():
    key = Ed25519PrivateKey.generate()
    raw_private = private_key_to_bytes(key)
    raw_public = public_key_to_bytes(key.public_key())
    assert len(raw_private) == len(raw_public) == 32
    assert private_key_to_bytes(load_private_key(raw_private)) == raw_private
    assert public_key_to_bytes(load_public_key(raw_public)) == raw_public
    assert public_key_for(raw_private) == raw_public


def test_key_id_is_short_and_stable(private_key):
    public_key = public_key_for(private_key)
    assert key_id(public_key) == key_id(public_key)
    assert len(key_id(public_key)) == 16
    assert key_id(public_key) != key_id(public_key_for(generate_signing_key()))


@pytest.mark.parametrize("size", [0, 31, 33])
def test_keys_of_the_wrong_size_are_refused(size):
    with pytest.raises(ValueError, match="32 bytes"):
        load_private_key(b"k" * size)
    with pytest.raises(ValueError, match="32 bytes"):
        load_public_key(b"k" * size)
