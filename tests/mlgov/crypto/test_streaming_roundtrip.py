"""Streaming AEAD round trips at every size that sits on or beside a segment edge."""

from __future__ import annotations

import io
import os
import struct

import pytest

from mlgov.crypto.streaming import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    StreamDecryptor,
    StreamEncryptor,
    ciphertext_size,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    encrypt_stream,
)
from tests.mlgov.crypto.conftest import SEGMENT

EDGE_SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT, 5 * SEGMENT + 3]
MIB = DEFAULT_SEGMENT_SIZE
DEFAULT_EDGE_SIZES = [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 5]


def _encrypt_file(key, ad, plaintext, segment_size):
    out = io.BytesIO()
    totals = encrypt_stream(key, ad, io.BytesIO(plaintext), out, segment_size=segment_size)
    assert totals.plaintext_bytes == len(plaintext)
    assert totals.ciphertext_bytes == len(out.getvalue())
    return out.getvalue()


def _encrypt_chunks(key, ad, plaintext, segment_size):
    chunks = (plaintext[i : i + 5] for i in range(0, len(plaintext), 5))
    out = io.BytesIO()
    encrypt_stream(key, ad, chunks, out, segment_size=segment_size)
    return out.getvalue()


def _encrypt_bytewise(key, ad, plaintext, segment_size):
    encryptor = StreamEncryptor(key, ad, segment_size=segment_size)
    parts = [encryptor.update(plaintext[i : i + 1]) for i in range(len(plaintext))]
    return b"".join(parts) + encryptor.finalize()


def _encrypt_bytes(key, ad, plaintext, segment_size):
    return encrypt_bytes(key, ad, plaintext, segment_size=segment_size)


ENCRYPTS = [_encrypt_bytes, _encrypt_file, _encrypt_chunks, _encrypt_bytewise]


@pytest.mark.parametrize("size", EDGE_SIZES)
@pytest.mark.parametrize("encrypt", ENCRYPTS, ids=["bytes", "file", "chunks", "bytewise"])
def test_round_trip_at_segment_edges(data_key, associated_data, decrypt, encrypt, size):
    # given
    plaintext = os.urandom(size)
    # when
    ciphertext = encrypt(data_key, associated_data, plaintext, SEGMENT)
    # then
    assert len(ciphertext) == ciphertext_size(size, SEGMENT)
    assert decrypt(data_key, associated_data, ciphertext) == plaintext


@pytest.mark.parametrize("size", DEFAULT_EDGE_SIZES)
def test_round_trip_with_default_segment_size(data_key, associated_data, size):
    plaintext = os.urandom(size)
    ciphertext = _encrypt_file(data_key, associated_data, plaintext, DEFAULT_SEGMENT_SIZE)
    assert len(ciphertext) == ciphertext_size(size)
    out = io.BytesIO()
    decrypt_stream(data_key, associated_data, io.BytesIO(ciphertext), out)
    assert out.getvalue() == plaintext
    assert decrypt_bytes(data_key, associated_data, ciphertext) == plaintext


def test_header_carries_version_and_segment_size(data_key, associated_data):
    ciphertext = encrypt_bytes(data_key, associated_data, b"x", segment_size=4096)
    version, segment_size = struct.unpack_from(">BI", ciphertext)
    assert (version, segment_size) == (1, 4096)
    assert len(ciphertext) == HEADER_SIZE + 1 + 16


def test_same_plaintext_encrypts_differently_each_time(data_key, associated_data):
    first = encrypt_bytes(data_key, associated_data, b"same bytes")
    second = encrypt_bytes(data_key, associated_data, b"same bytes")
    assert first != second
    assert first[5:HEADER_SIZE] != second[5:HEADER_SIZE]  # fresh salt and nonce prefix


def test_decryptor_holds_back_a_full_segment_until_it_knows_whether_it_is_last(
    data_key, associated_data
):
    # given a ciphertext of exactly two full segments
    plaintext = os.urandom(2 * SEGMENT)
    ciphertext = encrypt_bytes(data_key, associated_data, plaintext, segment_size=SEGMENT)
    first_segment_end = HEADER_SIZE + SEGMENT + 16
    decryptor = StreamDecryptor(data_key, associated_data)
    # when the header and all of segment 0 arrive, nothing is released yet
    assert decryptor.update(ciphertext[:first_segment_end]) == b""
    # then one more byte proves segment 0 is not the last, and releases it alone
    assert (
        decryptor.update(ciphertext[first_segment_end : first_segment_end + 1])
        == plaintext[:SEGMENT]
    )
    assert decryptor.update(ciphertext[first_segment_end + 1 :]) == b""
    assert decryptor.finalize() == plaintext[SEGMENT:]


def test_memoryview_and_bytearray_inputs(data_key, associated_data):
    plaintext = bytearray(os.urandom(3 * SEGMENT + 1))
    encryptor = StreamEncryptor(data_key, associated_data, segment_size=SEGMENT)
    ciphertext = encryptor.update(memoryview(plaintext)) + encryptor.finalize()
    assert decrypt_bytes(data_key, associated_data, bytearray(ciphertext)) == plaintext


@pytest.mark.parametrize("bad_key", [b"", b"k" * 16, b"k" * 31, b"k" * 33])
def test_refuses_keys_that_are_not_aes_256(associated_data, bad_key):
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt_bytes(bad_key, associated_data, b"x")
    with pytest.raises(ValueError, match="32 bytes"):
        StreamDecryptor(bad_key, associated_data)


@pytest.mark.parametrize("segment_size", [0, 15, (16 << 20) + 1])
def test_refuses_segment_sizes_out_of_range(data_key, associated_data, segment_size):
    with pytest.raises(ValueError, match="segment size"):
        StreamEncryptor(data_key, associated_data, segment_size=segment_size)


def test_encryptor_refuses_use_after_finalize(data_key, associated_data):
    encryptor = StreamEncryptor(data_key, associated_data)
    encryptor.finalize()
    with pytest.raises(RuntimeError):
        encryptor.update(b"more")
