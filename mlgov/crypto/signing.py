"""Ed25519 signatures over canonical JSON (model versions, attestations).

Canonical form: keys sorted, no whitespace, UTF-8, no NaN or infinity, so a payload that
round-trips through the database or an API encodes to the same bytes and still verifies.
Values must be JSON-native (str, int, float, bool, None, lists, dicts with str keys): encode
dates, UUIDs and decimals as strings before signing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mlgov.crypto.errors import SignatureInvalid

KEY_SIZE = 32
SIGNATURE_SIZE = 64


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed for `payload`."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def generate_signing_key() -> bytes:
    """A fresh Ed25519 private key, as its 32 raw bytes."""
    return private_key_to_bytes(Ed25519PrivateKey.generate())


def private_key_to_bytes(key: Ed25519PrivateKey) -> bytes:
    """Raw 32-byte form of a private key (store it like any other secret)."""
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def public_key_to_bytes(key: Ed25519PublicKey) -> bytes:
    """Raw 32-byte form of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_private_key(private_key_bytes: bytes) -> Ed25519PrivateKey:
    """Private key from its raw 32 bytes."""
    if len(private_key_bytes) != KEY_SIZE:
        raise ValueError(f"Ed25519 private key must be {KEY_SIZE} bytes")
    return Ed25519PrivateKey.from_private_bytes(private_key_bytes)


def load_public_key(public_key_bytes: bytes) -> Ed25519PublicKey:
    """Public key from its raw 32 bytes."""
    if len(public_key_bytes) != KEY_SIZE:
        raise ValueError(f"Ed25519 public key must be {KEY_SIZE} bytes")
    return Ed25519PublicKey.from_public_bytes(public_key_bytes)


def public_key_for(private_key_bytes: bytes) -> bytes:
    """Raw public key that belongs to a raw private key."""
    return public_key_to_bytes(load_private_key(private_key_bytes).public_key())


def key_id(public_key_bytes: bytes) -> str:
    """Short stable name of a public key (first 16 hex digits of its SHA-256), to record
    which key signed without storing the key beside every signature."""
    return hashlib.sha256(public_key_bytes).hexdigest()[:16]


def sign(private_key_bytes: bytes, payload: Mapping[str, Any]) -> str:
    """Base64 Ed25519 signature of `payload`'s canonical JSON."""
    signature = load_private_key(private_key_bytes).sign(canonical_json(payload))
    return base64.b64encode(signature).decode("ascii")


def verify(public_key_bytes: bytes, payload: Mapping[str, Any], signature: str) -> None:
    """Return if `signature` signs `payload` under the key, else raise `SignatureInvalid`.

    Returns None rather than True on purpose: a caller who writes `if verify(...)` refuses
    everything instead of accepting everything.
    """
    public_key = load_public_key(public_key_bytes)
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("signature is not valid base64") from None
    if len(raw) != SIGNATURE_SIZE:
        raise SignatureInvalid(f"signature must be {SIGNATURE_SIZE} bytes, got {len(raw)}")
    try:
        public_key.verify(raw, canonical_json(payload))
    except InvalidSignature:
        raise SignatureInvalid("signature does not match the payload") from None
