"""SHA-256 taken in the same pass as encryption and decryption."""

from __future__ import annotations

import hashlib
import io
import os

from mlgov.crypto.digest import (
    HashingIterator,
    HashingReader,
    HashingWriter,
    digests_match,
    sha256_hex,
)
from mlgov.crypto.streaming import decrypt_stream, encrypt_stream

PLAINTEXT = os.urandom((3 << 20) + 123)
EXPECTED = hashlib.sha256(PLAINTEXT).hexdigest()


def test_hashing_reader_gives_the_plaintext_digest_while_encrypting(data_key, associated_data):
    # given a source wrapped in a HashingReader
    reader = HashingReader(io.BytesIO(PLAINTEXT))
    ciphertext = io.BytesIO()
    # when it is encrypted in one pass
    encrypt_stream(data_key, associated_data, reader, ciphertext)
    # then the digest and size are the plaintext's
    assert reader.hexdigest() == EXPECTED
    assert reader.size == len(PLAINTEXT)
    assert reader.digest() == bytes.fromhex(EXPECTED)
    # and the same digest comes out of decryption through a HashingWriter
    out = io.BytesIO()
    writer = HashingWriter(out)
    decrypt_stream(data_key, associated_data, io.BytesIO(ciphertext.getvalue()), writer)
    assert writer.hexdigest() == EXPECTED
    assert out.getvalue() == PLAINTEXT


def test_hashing_reader_read_path(data_key, associated_data):
    reader = HashingReader(io.BytesIO(PLAINTEXT))
    assert reader.read(10) + reader.read() == PLAINTEXT
    assert reader.hexdigest() == EXPECTED


def test_hashing_iterator_over_upload_chunks(data_key, associated_data):
    chunks = HashingIterator(PLAINTEXT[i : i + 65536] for i in range(0, len(PLAINTEXT), 65536))
    encrypt_stream(data_key, associated_data, chunks, HashingWriter())
    assert chunks.hexdigest() == EXPECTED
    assert chunks.size == len(PLAINTEXT)


def test_sha256_hex_of_streams_and_chunks():
    assert sha256_hex(io.BytesIO(PLAINTEXT)) == EXPECTED
    assert sha256_hex([PLAINTEXT[:5], PLAINTEXT[5:]]) == EXPECTED
    assert sha256_hex([]) == hashlib.sha256(b"").hexdigest()


def test_digests_match_ignores_case_only():
    assert digests_match(EXPECTED, EXPECTED.upper())
    assert not digests_match(EXPECTED, EXPECTED[:-1] + ("0" if EXPECTED[-1] != "0" else "1"))
