"""Cut a streamed ciphertext into its header and sealed segments, to tamper with them."""

from __future__ import annotations

from mlgov.crypto.streaming import HEADER_SIZE, TAG_SIZE


def split(ciphertext: bytes, segment_size: int) -> tuple[bytes, list[bytes]]:
    header, body = ciphertext[:HEADER_SIZE], ciphertext[HEADER_SIZE:]
    sealed = segment_size + TAG_SIZE
    return header, [body[i : i + sealed] for i in range(0, len(body), sealed)]


def join(header: bytes, segments: list[bytes]) -> bytes:
    return header + b"".join(segments)
