"""Memory stays flat: 64 MiB through the streaming APIs peaks at a few segments
(tracemalloc counts every bytes object, including the ones `cryptography` returns)."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import tracemalloc

from mlgov.crypto.streaming import (
    DEFAULT_SEGMENT_SIZE,
    StreamDecryptor,
    StreamEncryptor,
    decrypt_stream,
    encrypt_stream,
)

TOTAL = 64 << 20
CHUNK = 64 << 10
PEAK_LIMIT = 4 * DEFAULT_SEGMENT_SIZE  # "a few segments"


class _PatternReader(io.RawIOBase):
    """TOTAL bytes of a repeating random block, produced without holding them."""

    def __init__(self, block: bytes, total: int) -> None:
        self._block = memoryview(block)
        self._offset = 0
        self._left = total

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), len(self._block) - self._offset, self._left)
        buffer[:n] = self._block[self._offset : self._offset + n]
        self._offset = (self._offset + n) % len(self._block)
        self._left -= n
        return n


class _HashSink:
    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def write(self, data) -> int:
        self.hash.update(data)
        return len(data)


def _peak_of(work) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - baseline


def test_incremental_encrypt_and_decrypt_of_64_mib_stay_flat(data_key, associated_data):
    # given a 64 KiB chunk repeated to 64 MiB, fed chunk by chunk like an upload
    chunk = os.urandom(CHUNK)
    encryptor = StreamEncryptor(data_key, associated_data)
    decryptor = StreamDecryptor(data_key, associated_data)
    plain_hash, round_trip_hash = hashlib.sha256(), hashlib.sha256()

    def pipe() -> None:
        for _ in range(TOTAL // CHUNK):
            plain_hash.update(chunk)
            round_trip_hash.update(decryptor.update(encryptor.update(chunk)))
        round_trip_hash.update(decryptor.update(encryptor.finalize()))
        round_trip_hash.update(decryptor.finalize())

    # when it is encrypted and the ciphertext decrypted as it comes
    peak = _peak_of(pipe)
    # then the round trip is exact and memory peaked at a few segments
    assert round_trip_hash.digest() == plain_hash.digest()
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.1f} MiB"


def test_file_paths_of_64_mib_stay_flat(data_key, associated_data):
    block = os.urandom(3 * DEFAULT_SEGMENT_SIZE // 2)  # not a multiple of the segment
    with tempfile.TemporaryFile() as ciphertext:
        encrypt_peak = _peak_of(
            lambda: encrypt_stream(
                data_key, associated_data, _PatternReader(block, TOTAL), ciphertext
            )
        )
        ciphertext.seek(0)
        sink = _HashSink()
        decrypt_peak = _peak_of(lambda: decrypt_stream(data_key, associated_data, ciphertext, sink))
    expected = hashlib.sha256()
    reader = _PatternReader(block, TOTAL)
    for chunk in iter(lambda: reader.read(CHUNK), b""):
        expected.update(chunk)
    assert sink.hash.digest() == expected.digest()
    assert encrypt_peak < PEAK_LIMIT, f"encrypt peak {encrypt_peak / 2**20:.1f} MiB"
    assert decrypt_peak < PEAK_LIMIT, f"decrypt peak {decrypt_peak / 2**20:.1f} MiB"
