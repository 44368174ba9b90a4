"""Fixtures of the crypto kernel tests: keys, associated data, and every way to decrypt.

These tests are pure (no database): they use neither `db` nor the tenant personas.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import pytest

from mlgov.crypto.context import artifact_associated_data
from mlgov.crypto.streaming import StreamDecryptor, decrypt_bytes, decrypt_stream

# Small segments keep exhaustive tamper loops fast; the format is the same at any size.
SEGMENT = 32

Decrypt = Callable[[bytes, bytes, bytes], bytes]


@pytest.fixture()
def data_key() -> bytes:
    return os.urandom(32)


@pytest.fixture()
def associated_data() -> bytes:
    return artifact_associated_data(tenant_id="alpha", artifact_id="a-1", key_version=1)


def _decrypt_file(key: bytes, ad: bytes, ciphertext: bytes) -> bytes:
    out = io.BytesIO()
    decrypt_stream(key, ad, io.BytesIO(ciphertext), out)
    return out.getvalue()


def _decrypt_chunks(key: bytes, ad: bytes, ciphertext: bytes) -> bytes:
    # An odd chunk size, so chunk edges fall everywhere against segment edges.
    chunks = (ciphertext[i : i + 7] for i in range(0, len(ciphertext), 7))
    out = io.BytesIO()
    decrypt_stream(key, ad, chunks, out)
    return out.getvalue()


def _decrypt_incremental(key: bytes, ad: bytes, ciphertext: bytes) -> bytes:
    decryptor = StreamDecryptor(key, ad)
    parts = [decryptor.update(ciphertext[i : i + 50]) for i in range(0, len(ciphertext), 50)]
    return b"".join(parts) + decryptor.finalize()


@pytest.fixture(
    params=[decrypt_bytes, _decrypt_file, _decrypt_chunks, _decrypt_incremental],
    ids=["bytes", "file", "chunks", "incremental"],
)
def decrypt(request: pytest.FixtureRequest) -> Decrypt:
    """Each decryption entry point in turn: every tamper test runs against all of them."""
    return request.param
