"""SHA-256 in the same pass as encryption or decryption.

Wrap the source of `encrypt_stream` in a `HashingReader` (or its sink in a `HashingWriter`)
and the plaintext digest comes for free, without reading the artifact twice.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from typing import IO

CHUNK_SIZE = 1 << 20


class _Sha256Tally:
    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def _add(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> bytes:
        """Raw SHA-256 of the bytes seen so far."""
        return self._hash.digest()

    def hexdigest(self) -> str:
        """Hex SHA-256 of the bytes seen so far."""
        return self._hash.hexdigest()


class HashingReader(_Sha256Tally):
    """A binary reader that hashes what passes through it (`read` and `readinto`)."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        """Read from the wrapped source and hash the bytes."""
        data = self._raw.read(size)
        self._add(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Read into `buffer` from the wrapped source and hash the bytes read."""
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self._add(memoryview(buffer)[:n])
        return int(n or 0)


class HashingWriter(_Sha256Tally):
    """A sink that hashes what is written, then passes it on (or drops it if `raw` is None)."""

    def __init__(self, raw: IO[bytes] | None = None) -> None:
        super().__init__()
        self._raw = raw

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Hash `data` and forward it to the wrapped sink."""
        self._add(data)
        if self._raw is not None:
            self._raw.write(data)
        return len(data)


class HashingIterator(_Sha256Tally):
    """Iterate over byte chunks, hashing each one as it goes by."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._add(chunk)
            yield chunk


def sha256_hex(source: IO[bytes] | Iterable[bytes]) -> str:
    """Hex SHA-256 of a binary stream or an iterable of chunks, reading a chunk at a time."""
    tally = HashingWriter()
    read = getattr(source, "read", None)
    chunks: Iterable[bytes] = iter(lambda: read(CHUNK_SIZE), b"") if read else source
    for chunk in chunks:
        tally.write(chunk)
    return tally.hexdigest()


def digests_match(expected_hex: str, actual_hex: str) -> bool:
    """Compare two hex digests in constant time, ignoring case."""
    return hmac.compare_digest(expected_hex.lower().encode(), actual_hex.lower().encode())
