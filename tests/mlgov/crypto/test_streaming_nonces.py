"""No (key, nonce) pair is ever used twice: across 100,000 streams under one data key, and
across the segments of one stream. The pairs are rebuilt from the documented format with an
independent HKDF, and sampled segments are opened with them to prove they are the real ones."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mlgov.crypto.streaming import HEADER_SIZE, TAG_SIZE, encrypt_bytes

STREAMS = 100_000
SEGMENT = 16


def _stream_key(data_key: bytes, ad: bytes, header: bytes) -> bytes:
    # Spec: HKDF-SHA256(ikm=data key, salt=header[5:37], info=header[0:5] || AD).
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=header[5:37], info=header[:5] + ad
    ).derive(data_key)


def _nonce(header: bytes, index: int, last: bool) -> bytes:
    return header[37:HEADER_SIZE] + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def test_100k_streams_under_one_key_never_repeat_a_key_nonce_pair(data_key, associated_data):
    # given 100,000 two-segment streams under one data key and one binding
    plaintext = os.urandom(SEGMENT + 1)
    seen: set[bytes] = set()
    for n in range(STREAMS):
        ciphertext = encrypt_bytes(data_key, associated_data, plaintext, segment_size=SEGMENT)
        header = ciphertext[:HEADER_SIZE]
        stream_key = _stream_key(data_key, associated_data, header)
        first, second = _nonce(header, 0, last=False), _nonce(header, 1, last=True)
        if n % 10_000 == 0:
            # the rebuilt key and nonces really are the ones that sealed the segments
            body = ciphertext[HEADER_SIZE:]
            aead = AESGCM(stream_key)
            assert aead.decrypt(first, body[: SEGMENT + TAG_SIZE], None) == plaintext[:SEGMENT]
            assert aead.decrypt(second, body[SEGMENT + TAG_SIZE :], None) == plaintext[SEGMENT:]
        seen.add(stream_key + first)
        seen.add(stream_key + second)
    # then every (key, nonce) pair is distinct
    assert len(seen) == 2 * STREAMS


def test_segments_of_one_stream_use_index_and_last_flag(data_key, associated_data):
    # given one stream of 1,000 segments
    segments = 1000
    plaintext = os.urandom(segments * SEGMENT - 3)
    ciphertext = encrypt_bytes(data_key, associated_data, plaintext, segment_size=SEGMENT)
    header, body = ciphertext[:HEADER_SIZE], ciphertext[HEADER_SIZE:]
    aead = AESGCM(_stream_key(data_key, associated_data, header))
    sealed = SEGMENT + TAG_SIZE
    nonces = set()
    # then segment i opens under prefix || i || flag, the flag set on the last one only
    for i in range(segments):
        nonce = _nonce(header, i, last=i == segments - 1)
        chunk = aead.decrypt(nonce, body[i * sealed : (i + 1) * sealed], None)
        assert chunk == plaintext[i * SEGMENT : (i + 1) * SEGMENT]
        nonces.add(nonce)
    assert len(nonces) == segments
