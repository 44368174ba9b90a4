"""Exceptions of the crypto kernel: one clear type per way a secret can fail to open."""

from __future__ import annotations


class CryptoError(Exception):
    """Base class of every error the crypto kernel raises on purpose."""


class CiphertextCorrupted(CryptoError):
    """A streamed ciphertext failed to decrypt: tampered, truncated, extended, reordered,
    or presented with the wrong key or associated data.

    `reason` says what was detected; `segment` is the index of the segment at fault, or None
    when the fault lies in the header or the framing.
    """

    def __init__(self, reason: str, *, segment: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segment = segment


class KeyUnwrapFailed(CryptoError):
    """A wrapped data key did not open: wrong master key, wrong context, or corrupted bytes."""


class UnknownKeyVersion(CryptoError):
    """A key ring was asked for a master-key version it does not hold."""

    def __init__(self, version: int, known: tuple[int, ...]) -> None:
        listed = ", ".join(str(v) for v in known) or "none"
        super().__init__(f"no master key with version {version} (known versions: {listed})")
        self.version = version
        self.known = known


class SignatureInvalid(CryptoError):
    """A signature does not match its payload under the given public key."""
