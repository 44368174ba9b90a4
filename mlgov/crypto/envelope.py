"""Envelope encryption: data keys (DEKs) wrapped under versioned master keys (KEKs).

Wrapped key (format 1), 65 bytes::

    format (1 byte, 0x01) || KEK version (4 bytes, big-endian) || nonce (12 random bytes)
    || AES-256-GCM(KEK, nonce, DEK, associated data = format || KEK version || context)

The KEK version sits in the clear so rotation can tell which master key wrapped a DEK without
trying each; it is also in the associated data, so it cannot be edited to point elsewhere.
The context (tenant and DEK version, see `context.data_key_context`) binds the wrapped DEK to
its row. Random 96-bit nonces are safe here: a KEK wraps one DEK per tenant, DEK version and
rotation, far below the ~2^32 messages a random-nonce GCM key allows.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlgov.crypto.errors import KeyUnwrapFailed, UnknownKeyVersion

KEY_SIZE = 32
NONCE_SIZE = 12
WRAP_FORMAT = 1
_HEADER = struct.Struct(">BI")  # format, KEK version
WRAPPED_KEY_SIZE = _HEADER.size + NONCE_SIZE + KEY_SIZE + 16
MAX_KEK_VERSION = (1 << 32) - 1


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes, got {len(key)}")


def _check_version(version: int) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(f"KEK version must be an int, got {type(version).__name__}")
    if not 1 <= version <= MAX_KEK_VERSION:
        raise ValueError(f"KEK version must be within 1..{MAX_KEK_VERSION}, got {version}")


def generate_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return os.urandom(KEY_SIZE)


def wrap_key(kek: bytes, kek_version: int, dek: bytes, context: bytes) -> bytes:
    """Encrypt `dek` under master key `kek` (of version `kek_version`), bound to `context`."""
    _check_key(kek, "KEK")
    _check_key(dek, "DEK")
    _check_version(kek_version)
    header = _HEADER.pack(WRAP_FORMAT, kek_version)
    nonce = os.urandom(NONCE_SIZE)
    return header + nonce + AESGCM(kek).encrypt(nonce, dek, header + bytes(context))


def wrapped_key_version(wrapped: bytes) -> int:
    """The KEK version recorded in a wrapped key's header (not yet authenticated)."""
    if len(wrapped) != WRAPPED_KEY_SIZE:
        raise KeyUnwrapFailed(f"wrapped key must be {WRAPPED_KEY_SIZE} bytes, got {len(wrapped)}")
    fmt, version = _HEADER.unpack_from(wrapped)
    if fmt != WRAP_FORMAT:
        raise KeyUnwrapFailed(f"unsupported wrapped-key format {fmt}")
    return int(version)


def unwrap_key(kek: bytes, wrapped: bytes, context: bytes) -> bytes:
    """Decrypt a wrapped DEK; raise `KeyUnwrapFailed` for a wrong KEK or context, or bytes
    that were altered."""
    _check_key(kek, "KEK")
    wrapped_key_version(wrapped)  # validates length and format
    header, nonce = wrapped[: _HEADER.size], wrapped[_HEADER.size : _HEADER.size + NONCE_SIZE]
    try:
        return AESGCM(kek).decrypt(nonce, wrapped[_HEADER.size + NONCE_SIZE :], header + context)
    except InvalidTag:
        raise KeyUnwrapFailed(
            "wrapped key failed authentication (wrong master key or context, or corrupted)"
        ) from None


class KeyRing:
    """Versioned master keys: the highest version wraps, the header picks the unwrapper.

    Rotation: add a new version, `rewrap` every DEK (idempotent, so a killed run can start
    again), then drop the old version once `needs_rewrap` is false everywhere.
    """

    def __init__(self, keys: Mapping[int, bytes]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one master key")
        for version, key in keys.items():
            _check_version(version)
            _check_key(key, f"master key version {version}")
        self._keys = {version: bytes(key) for version, key in keys.items()}
        self.current_version = max(self._keys)

    def __repr__(self) -> str:
        # Never print key material: this object ends up in logs and tracebacks.
        return f"KeyRing(versions={list(self.versions)}, current={self.current_version})"

    @property
    def versions(self) -> tuple[int, ...]:
        """Versions held, oldest first."""
        return tuple(sorted(self._keys))

    def key(self, version: int) -> bytes:
        """The master key of `version`, or `UnknownKeyVersion`."""
        try:
            return self._keys[version]
        except KeyError:
            raise UnknownKeyVersion(version, self.versions) from None

    def wrap(self, dek: bytes, context: bytes) -> bytes:
        """Wrap `dek` under the current (highest) master key version."""
        return wrap_key(self._keys[self.current_version], self.current_version, dek, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """Unwrap with the master key version named in the wrapped key's header."""
        return unwrap_key(self.key(wrapped_key_version(wrapped)), wrapped, context)

    def needs_rewrap(self, wrapped: bytes) -> bool:
        """Whether `wrapped` was made under an older master key than the current one."""
        return wrapped_key_version(wrapped) != self.current_version

    def rewrap(self, wrapped: bytes, context: bytes) -> bytes:
        """Re-wrap under the current master key; a key already current is returned as is,
        after checking that it opens."""
        dek = self.unwrap(wrapped, context)
        if not self.needs_rewrap(wrapped):
            return wrapped
        return self.wrap(dek, context)
