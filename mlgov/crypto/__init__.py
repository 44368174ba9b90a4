"""mlgov's crypto kernel: pure functions over bytes and keys (stdlib and `cryptography` only).

- `streaming`: segmented AES-256-GCM streaming AEAD for artifacts (format in `segments`);
- `envelope`: data keys wrapped under versioned master keys, and the `KeyRing`;
- `signing`: Ed25519 over canonical JSON;
- `digest`: SHA-256 in the same pass as encryption;
- `context`: unambiguous associated data and wrap contexts;
- `errors`: the exceptions all of the above raise.
"""

from mlgov.crypto.errors import (
    CiphertextCorrupted,
    CryptoError,
    KeyUnwrapFailed,
    SignatureInvalid,
    UnknownKeyVersion,
)

__all__ = [
    "CiphertextCorrupted",
    "CryptoError",
    "KeyUnwrapFailed",
    "SignatureInvalid",
    "UnknownKeyVersion",
]
