"""joblib's container: compression detected by magic bytes, decompressed with a hard cap.

joblib picks the decompressor from the first bytes of the file (joblib/compressor.py);
we do the same, but decompress into memory ourselves, never past `max_bytes` (a small
file that inflates to terabytes is refused, not expanded), and then scan and load the
very bytes we produced, so the loader can never see a different stream than the scanner.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Protocol

from registry.model_files.errors import ModelFileRefused

DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB of pickle bytes, after decompression
_CHUNK = 1024 * 1024
_LZMA_MEMLIMIT = 512 * 1024**2  # an LZMA header can ask for a huge dictionary

# (name, magic) in joblib's detection order; joblib/compressor.py defines the prefixes.
_MAGIC: tuple[tuple[str, bytes], ...] = (
    ("compat", b"ZF"),  # joblib < 0.9.3: companion files, never supported
    ("zlib", b"\x78"),
    ("gzip", b"\x1f\x8b"),
    ("bz2", b"BZ"),
    ("xz", b"\xfd\x37\x7a\x58\x5a"),
    ("lzma", b"\x5d\x00"),
    ("lz4", b"\x04\x22\x4d\x18"),
)


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


_DECOMPRESSORS: dict[str, Callable[[], _Decompressor]] = {
    "zlib": lambda: zlib.decompressobj(zlib.MAX_WBITS),
    "gzip": lambda: zlib.decompressobj(31),
    "bz2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=_LZMA_MEMLIMIT),
    "lzma": lambda: lzma.LZMADecompressor(format=lzma.FORMAT_ALONE, memlimit=_LZMA_MEMLIMIT),
}


def detect_compression(data: bytes) -> str | None:
    """The compression joblib would detect for `data`, or None for a raw pickle stream."""
    for name, magic in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def joblib_pickle_bytes(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The pickle stream inside a joblib file: `data` itself or its decompressed content.

    Raises ModelFileRefused for an unsupported or corrupt container, or for content
    larger than `max_bytes`.
    """
    if len(data) > max_bytes:
        raise ModelFileRefused(f"the file is larger than the {max_bytes}-byte limit")
    method = detect_compression(data)
    if method is None:
        return data
    if method == "compat":
        raise ModelFileRefused("joblib files older than 0.10 (ZF format) are not supported")
    if method == "lz4":
        raise ModelFileRefused("lz4-compressed joblib files are not supported")
    payload = _decompress(data, method, max_bytes)
    if detect_compression(payload) is not None:
        # joblib.load on these bytes would decompress again: a stream we did not scan
        raise ModelFileRefused("nested compression is not supported")
    return payload


def _decompress(data: bytes, method: str, max_bytes: int) -> bytes:
    decompressor = _DECOMPRESSORS[method]()
    out = bytearray()
    offset = 0
    try:
        while not decompressor.eof:
            feed, offset = _next_input(decompressor, data, offset)
            room = max_bytes - len(out) + 1  # one byte more than allowed proves the excess
            produced = decompressor.decompress(feed, room)
            out += produced
            if len(out) > max_bytes:
                raise ModelFileRefused(f"decompressed content exceeds the {max_bytes}-byte limit")
            if not produced and not feed:
                raise ModelFileRefused(f"truncated {method} stream")
        if decompressor.unused_data or offset < len(data):
            raise ModelFileRefused(f"unexpected bytes after the {method} stream")
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as error:
        raise ModelFileRefused(f"corrupt {method} stream: {error}") from None
    return bytes(out)


def _next_input(decompressor: _Decompressor, data: bytes, offset: int) -> tuple[bytes, int]:
    """The next bytes to feed: what the decompressor held back when its output hit the
    cap, else the next chunk of the file, else nothing (to drain buffered output)."""
    tail = getattr(decompressor, "unconsumed_tail", b"")  # zlib keeps unread input here
    if tail:
        return bytes(tail), offset
    if not getattr(decompressor, "needs_input", True):  # bz2 / lzma hold buffered input
        return b"", offset
    chunk = data[offset : offset + _CHUNK]
    return chunk, offset + len(chunk)
