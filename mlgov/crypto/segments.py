"""The segment format of mlgov's streaming AEAD: header, stream key, nonces (see streaming.py).

Kept apart from the encryptor and decryptor so the format, which every stored artifact depends
on, reads in one place.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mlgov.crypto.errors import CiphertextCorrupted

VERSION = 1
KEY_SIZE = 32
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
DEFAULT_SEGMENT_SIZE = 1 << 20
MIN_SEGMENT_SIZE = 16
# A header is read before anything is authenticated; the cap keeps a forged size from making
# a reader allocate without bound.
MAX_SEGMENT_SIZE = 16 << 20
MAX_SEGMENTS = 1 << 32  # the index field is 32 bits

_PARAMS = struct.Struct(">BI")  # version, segment size
HEADER_SIZE = _PARAMS.size + SALT_SIZE + NONCE_PREFIX_SIZE
_FLAG_MORE = b"\x00"
_FLAG_LAST = b"\x01"


def ciphertext_size(plaintext_size: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """Exact ciphertext length for a plaintext of `plaintext_size` bytes (for quotas)."""
    segments = max(1, -(-plaintext_size // segment_size))
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


def check_key(key: bytes) -> None:
    """Refuse a data key that is not an AES-256 key."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"data key must be {KEY_SIZE} bytes, got {len(key)}")


def check_segment_size(segment_size: int) -> None:
    """Refuse a segment size outside what readers accept."""
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(
            f"segment size must be within {MIN_SEGMENT_SIZE}..{MAX_SEGMENT_SIZE} bytes, "
            f"got {segment_size}"
        )


class SegmentCipher:
    """The stream key and nonce prefix of one stream, and the index of its next segment."""

    __slots__ = ("_aead", "_prefix", "index")

    def __init__(self, key: bytes, associated_data: bytes, header: bytes) -> None:
        params, salt = header[: _PARAMS.size], header[_PARAMS.size : _PARAMS.size + SALT_SIZE]
        stream_key = HKDF(
            algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=params + associated_data
        ).derive(key)
        self._aead = AESGCM(stream_key)
        self._prefix = header[_PARAMS.size + SALT_SIZE :]
        self.index = 0

    def nonce(self, last: bool) -> bytes:
        """Nonce of the next segment: prefix || index || last-segment flag."""
        return self._prefix + self.index.to_bytes(4, "big") + (_FLAG_LAST if last else _FLAG_MORE)

    def seal(self, plaintext: memoryview | bytes, last: bool) -> bytes:
        """Encrypt the next segment; returns ciphertext || tag."""
        if self.index >= MAX_SEGMENTS:
            raise ValueError("stream too long: segment index would overflow 32 bits")
        sealed = self._aead.encrypt(self.nonce(last), plaintext, None)
        self.index += 1
        return sealed

    def open(self, sealed: memoryview | bytes, last: bool) -> bytes:
        """Authenticate and decrypt the next segment, or raise `CiphertextCorrupted`."""
        try:
            plaintext = self._aead.decrypt(self.nonce(last), sealed, None)
        except InvalidTag:
            raise self._diagnose(sealed, last) from None
        self.index += 1
        return plaintext

    def _diagnose(self, sealed: memoryview | bytes, last: bool) -> CiphertextCorrupted:
        """Name the fault. Opening the segment under the other flag tells a stream cut at a
        segment boundary, or one with bytes after its last segment, from plain tampering."""
        i = self.index
        if len(sealed) < TAG_SIZE:
            return CiphertextCorrupted(f"truncated: segment {i} is shorter than its tag", segment=i)
        try:
            self._aead.decrypt(self.nonce(not last), sealed, None)
        except InvalidTag:
            hint = " (wrong key or associated data, or a corrupted header)" if i == 0 else ""
            return CiphertextCorrupted(f"segment {i} failed authentication{hint}", segment=i)
        if last:
            return CiphertextCorrupted(
                f"truncated: stream ends after segment {i} without a last segment", segment=i
            )
        return CiphertextCorrupted(f"trailing data after last segment {i}", segment=i)


def new_header(segment_size: int) -> bytes:
    """A fresh header: random salt (hence a fresh stream key) and random nonce prefix."""
    return (
        _PARAMS.pack(VERSION, segment_size) + os.urandom(SALT_SIZE) + os.urandom(NONCE_PREFIX_SIZE)
    )


def parse_segment_size(header: bytes, max_segment_size: int) -> int:
    """Read and bound the segment size of a header that is not yet authenticated."""
    version, segment_size = _PARAMS.unpack_from(header)
    if version != VERSION:
        raise CiphertextCorrupted(f"unsupported header version {version}")
    if not MIN_SEGMENT_SIZE <= segment_size <= max_segment_size:
        raise CiphertextCorrupted(f"unsupported segment size {segment_size} in header")
    return segment_size
