"""Unambiguous encodings of what a ciphertext or a wrapped key is bound to.

Callers must not glue ids together with separators themselves: `("ab", "c")` and
`("a", "bc")` would give the same bytes. Here every field is length-prefixed under a
purpose label, so two different bindings never encode alike.
"""

from __future__ import annotations

import struct

_LENGTH = struct.Struct(">I")


def _encode(purpose: str, *fields: str | int) -> bytes:
    parts = [purpose.encode("ascii")]
    for field in fields:
        raw = str(field).encode("utf-8")
        parts.append(_LENGTH.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def artifact_associated_data(
    *, tenant_id: str | int, artifact_id: str | int, key_version: int
) -> bytes:
    """Associated data that binds an artifact's ciphertext to its tenant, its id and the version
    of the data key that encrypted it: the same bytes presented for any other artifact, tenant
    or key version fail to decrypt."""
    return _encode("mlgov/artifact/v1", tenant_id, artifact_id, key_version)


def data_key_context(*, tenant_id: str | int, dek_version: int) -> bytes:
    """Context under which a tenant's data key (DEK) of a given version is wrapped: a wrapped
    DEK copied to another tenant's row or version fails to unwrap."""
    return _encode("mlgov/dek/v1", tenant_id, dek_version)


def signing_key_context(*, tenant_id: str | int, key_version: int) -> bytes:
    """Context under which a tenant's Ed25519 private key of a given version is wrapped."""
    return _encode("mlgov/signing-key/v1", tenant_id, key_version)
