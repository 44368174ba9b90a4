"""Segmented AES-256-GCM streaming AEAD, after Tink's AES-GCM-HKDF streaming design.

Why segments: one AES-GCM message must be held whole before its tag can be checked, and one
(key, nonce) pair covers only ~64 GiB. Cutting the stream into separately authenticated
segments keeps memory flat for any size and lets a reader stop at the first bad segment.

Ciphertext (format version 1)::

    header  = version (1 byte, 0x01) || plaintext segment size (4 bytes, big-endian)
              || salt (32 random bytes) || nonce prefix (7 random bytes)
    segment = AES-256-GCM(stream key, nonce_i, plaintext_i) = ciphertext_i || tag_i (16 bytes)

    stream key = HKDF-SHA256(ikm=data key, salt=salt,
                             info=version || segment size || associated data)
    nonce_i    = nonce prefix || i (4 bytes, big-endian) || last-segment flag (0x01 / 0x00)

Every segment but the last holds exactly `segment size` plaintext bytes; the last holds 0 to
`segment size`. The associated data never travels with the ciphertext: it enters only the key
derivation, so bytes moved to another artifact, tenant or key version fail on segment 0. Every
header field is authenticated (salt, version and size through the derivation, the prefix
through the nonces). A fresh salt per stream gives a fresh key, so (key, nonce) pairs never
repeat across streams; the index keeps nonces unique within one, and the flag stops a stream
cut at a segment boundary from passing as whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from mlgov.crypto.errors import CiphertextCorrupted
from mlgov.crypto.segments import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    MAX_SEGMENT_SIZE,
    TAG_SIZE,
    VERSION,
    SegmentCipher,
    check_key,
    check_segment_size,
    ciphertext_size,
    new_header,
    parse_segment_size,
)

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "HEADER_SIZE",
    "MAX_SEGMENT_SIZE",
    "TAG_SIZE",
    "Sink",
    "Source",
    "StreamDecryptor",
    "StreamEncryptor",
    "StreamTotals",
    "ciphertext_size",
    "decrypt_bytes",
    "decrypt_stream",
    "encrypt_bytes",
    "encrypt_stream",
]


class Sink(Protocol):
    """Where ciphertext or plaintext goes: anything with a `write` that takes all it is given."""

    def write(self, data: bytes, /) -> object: ...


Source = IO[bytes] | Iterable[bytes]


@dataclass(frozen=True)
class StreamTotals:
    """Byte counts of one streamed encryption or decryption."""

    plaintext_bytes: int
    ciphertext_bytes: int


def _byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class StreamEncryptor:
    """Incremental encryption for writers that get plaintext chunk by chunk.

    Feed chunks to `update()` and call `finalize()` once; the concatenation of everything they
    return (the header comes first) is the ciphertext. At most one segment is buffered: a full
    segment is held back until more plaintext arrives, since only then is it known not to be
    the last.
    """

    def __init__(
        self, key: bytes, associated_data: bytes, *, segment_size: int = DEFAULT_SEGMENT_SIZE
    ) -> None:
        check_key(key)
        check_segment_size(segment_size)
        self.header = new_header(segment_size)
        self.segment_size = segment_size
        self._cipher = SegmentCipher(key, bytes(associated_data), self.header)
        self._buffer = bytearray(segment_size)
        self._view = memoryview(self._buffer)
        self._filled = 0
        self._header_sent = False
        self._finished = False

    def _start(self) -> list[bytes]:
        if self._finished:
            raise RuntimeError("encryptor already finalized")
        if self._header_sent:
            return []
        self._header_sent = True
        return [self.header]

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Take a plaintext chunk; return the ciphertext completed by it (may be empty)."""
        out = self._start()
        src = _byte_view(data)
        size, pos, end = self.segment_size, 0, len(src)
        while pos < end:
            if self._filled == size:
                # More plaintext follows, so the held-back full segment is not the last.
                out.append(self._cipher.seal(self._view, last=False))
                self._filled = 0
            if self._filled == 0 and end - pos > size:
                # A whole segment with more after it: seal it straight from the caller's buffer.
                out.append(self._cipher.seal(src[pos : pos + size], last=False))
                pos += size
                continue
            take = min(size - self._filled, end - pos)
            self._view[self._filled : self._filled + take] = src[pos : pos + take]
            self._filled += take
            pos += take
        return b"".join(out)

    def finalize(self) -> bytes:
        """Seal what is buffered as the last segment; return the remaining ciphertext."""
        out = self._start()
        out.append(self._cipher.seal(self._view[: self._filled], last=True))
        self._finished = True
        return b"".join(out)


class StreamDecryptor:
    """Incremental decryption for readers that get ciphertext chunk by chunk.

    `update()` returns only plaintext of segments already authenticated; `finalize()` checks
    that the stream ended with its last segment. Any fault raises `CiphertextCorrupted`, and
    the decryptor then refuses further use. Plaintext already returned belongs to authentic
    segments, but the stream as a whole is valid only once `finalize()` has returned: a
    consumer must discard what it received if any call raises.
    """

    def __init__(
        self, key: bytes, associated_data: bytes, *, max_segment_size: int = MAX_SEGMENT_SIZE
    ) -> None:
        check_key(key)
        self._key = key
        self._associated_data = bytes(associated_data)
        self._max_segment_size = max_segment_size
        self._header = bytearray()
        self._cipher: SegmentCipher | None = None
        self._sealed_size = 0
        self._buffer = bytearray()
        self._view = memoryview(self._buffer)
        self._filled = 0
        self._failure: CiphertextCorrupted | None = None
        self._finished = False

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise CiphertextCorrupted(
                f"decryptor already failed: {self._failure.reason}", segment=self._failure.segment
            )
        if self._finished:
            raise RuntimeError("decryptor already finalized")

    def _start(self, header: bytes) -> None:
        segment_size = parse_segment_size(header, self._max_segment_size)
        self._cipher = SegmentCipher(self._key, self._associated_data, header)
        self._sealed_size = segment_size + TAG_SIZE

    def _open(self, sealed: memoryview | bytes, last: bool) -> bytes:
        assert self._cipher is not None
        try:
            return self._cipher.open(sealed, last)
        except CiphertextCorrupted as exc:
            self._failure = exc
            raise

    def _fail(self, reason: str) -> CiphertextCorrupted:
        self._failure = CiphertextCorrupted(reason)
        return self._failure

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Take a ciphertext chunk; return the plaintext of the segments it completed."""
        self._check_usable()
        src = _byte_view(data)
        pos, end = 0, len(src)
        if self._cipher is None:
            take = min(HEADER_SIZE - len(self._header), end)
            self._header += src[:take]
            pos = take
            if self._header[:1] not in (b"", bytes([VERSION])):
                raise self._fail(f"unsupported header version {self._header[0]}")
            if len(self._header) < HEADER_SIZE:
                return b""
            try:
                self._start(bytes(self._header))
            except CiphertextCorrupted as exc:
                self._failure = exc
                raise
        out: list[bytes] = []
        size = self._sealed_size
        if pos < end and not self._buffer:
            # Allocated on first use: the file fast path never buffers here.
            self._buffer = bytearray(size)
            self._view = memoryview(self._buffer)
        while pos < end:
            if self._filled == size:
                # More ciphertext follows, so the held-back full segment is not the last.
                out.append(self._open(self._view, last=False))
                self._filled = 0
            if self._filled == 0 and end - pos > size:
                out.append(self._open(src[pos : pos + size], last=False))
                pos += size
                continue
            take = min(size - self._filled, end - pos)
            self._view[self._filled : self._filled + take] = src[pos : pos + take]
            self._filled += take
            pos += take
        return b"".join(out)

    def finalize(self) -> bytes:
        """Open the buffered bytes as the last segment; raise if the stream was cut short."""
        self._check_usable()
        if self._cipher is None:
            raise self._fail(f"truncated: header has {len(self._header)} of {HEADER_SIZE} bytes")
        if self._filled == 0:
            raise self._fail("truncated: no segment after the header")
        plaintext = self._open(self._view[: self._filled], last=True)
        self._finished = True
        return plaintext


def _read_full(source: IO[bytes], view: memoryview) -> int:
    """Fill `view` from `source`, looping over short reads; fewer bytes only at end of stream."""
    readinto = source.readinto  # type: ignore[attr-defined]
    filled, size = 0, len(view)
    while filled < size:
        n = readinto(view[filled:])
        if n is None:
            raise BlockingIOError("non-blocking source returned no data")
        if n == 0:
            break
        filled += n
    return filled


def _segments(source: IO[bytes], size: int) -> Iterator[tuple[memoryview, bool]]:
    """Yield (segment, is_last) read into one reused buffer of `size + 1` bytes: the extra
    byte peeks ahead to tell whether the segment is the last, then is carried over to start
    the next one. Each view is valid only until the next iteration."""
    buffer = memoryview(bytearray(size + 1))
    filled = _read_full(source, buffer)
    while filled > size:
        yield buffer[:size], False
        buffer[0] = buffer[size]
        filled = 1 + _read_full(source, buffer[1:])
    yield buffer[:filled], True


def _chunks(source: Source, chunk_size: int) -> Iterable[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        return [bytes(source)]
    read = getattr(source, "read", None)
    if read is not None:
        return iter(lambda: read(chunk_size), b"")
    return source


def encrypt_stream(
    key: bytes,
    associated_data: bytes,
    source: Source,
    sink: Sink,
    *,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> StreamTotals:
    """Encrypt `source` (a binary file or an iterable of byte chunks) into `sink`, holding at
    most two segments in memory."""
    if not hasattr(source, "readinto"):
        encryptor = StreamEncryptor(key, associated_data, segment_size=segment_size)
        plain = written = 0
        for chunk in _chunks(source, segment_size):
            plain += len(chunk)
            sealed = encryptor.update(chunk)
            sink.write(sealed)
            written += len(sealed)
        sealed = encryptor.finalize()
        sink.write(sealed)
        return StreamTotals(plain, written + len(sealed))
    # Fast path for files: read straight into reused buffers, no copy before sealing.
    check_key(key)
    check_segment_size(segment_size)
    header = new_header(segment_size)
    cipher = SegmentCipher(key, bytes(associated_data), header)
    sink.write(header)
    plain, written = 0, HEADER_SIZE
    for segment, last in _segments(source, segment_size):  # type: ignore[arg-type]
        # Not bound to a name, so the previous segment's ciphertext is freed before the next.
        sink.write(cipher.seal(segment, last))
        plain += len(segment)
        written += len(segment) + TAG_SIZE
    return StreamTotals(plain, written)


def decrypt_stream(
    key: bytes,
    associated_data: bytes,
    source: Source,
    sink: Sink,
    *,
    max_segment_size: int = MAX_SEGMENT_SIZE,
) -> StreamTotals:
    """Decrypt `source` into `sink` one authenticated segment at a time.

    Raises `CiphertextCorrupted` on any fault. The sink then holds a prefix of authentic
    segments but not the whole artifact: the caller must discard it (write to a temporary
    file and move it into place only after this returns).
    """
    decryptor = StreamDecryptor(key, associated_data, max_segment_size=max_segment_size)
    plain = read = 0
    if not hasattr(source, "readinto"):
        for chunk in _chunks(source, DEFAULT_SEGMENT_SIZE + TAG_SIZE):
            read += len(chunk)
            plaintext = decryptor.update(chunk)
            sink.write(plaintext)
            plain += len(plaintext)
        plaintext = decryptor.finalize()
        sink.write(plaintext)
        return StreamTotals(plain + len(plaintext), read)
    # Fast path for files: whole sealed segments read into reused buffers, opened in place.
    header = memoryview(bytearray(HEADER_SIZE))
    read = _read_full(source, header)  # type: ignore[arg-type]
    decryptor.update(header[:read])
    if read < HEADER_SIZE:
        decryptor.finalize()  # raises: truncated header
    for segment, last in _segments(source, decryptor._sealed_size):  # type: ignore[arg-type]
        sink.write(decryptor._open(segment, last))
        plain += len(segment) - TAG_SIZE
        read += len(segment)
    decryptor._finished = True
    return StreamTotals(plain, read)


def encrypt_bytes(
    key: bytes,
    associated_data: bytes,
    plaintext: bytes | bytearray | memoryview,
    *,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> bytes:
    """Encrypt a whole in-memory plaintext into the streaming format."""
    encryptor = StreamEncryptor(key, associated_data, segment_size=segment_size)
    return encryptor.update(plaintext) + encryptor.finalize()


def decrypt_bytes(
    key: bytes,
    associated_data: bytes,
    ciphertext: bytes | bytearray | memoryview,
    *,
    max_segment_size: int = MAX_SEGMENT_SIZE,
) -> bytes:
    """Decrypt a whole in-memory ciphertext; returns nothing unless every segment is authentic
    and the stream is complete."""
    decryptor = StreamDecryptor(key, associated_data, max_segment_size=max_segment_size)
    return decryptor.update(ciphertext) + decryptor.finalize()
