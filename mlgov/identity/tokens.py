"""Token format: `mlg_<prefix>_<secret>`. The prefix is stored in clear to find the row
and to show the user which token is which; the whole token is stored only as SHA-256
(tokens carry 256 bits of randomness, so a fast hash is enough)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

TOKEN_MARKER = "mlg"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 10


@dataclass(frozen=True)
class NewToken:
    prefix: str
    plaintext: str
    token_hash: str


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_token() -> NewToken:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    plaintext = f"{TOKEN_MARKER}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewToken(prefix=prefix, plaintext=plaintext, token_hash=hash_token(plaintext))


def parse_prefix(plaintext: str) -> str | None:
    """The prefix of a well-formed token, or None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_MARKER or len(parts[1]) != PREFIX_LENGTH:
        return None
    if not all(ch in _PREFIX_ALPHABET for ch in parts[1]) or not parts[2]:
        return None
    return parts[1]


def hashes_match(plaintext: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(plaintext), stored_hash)
