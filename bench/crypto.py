"""Streaming AEAD throughput and memory, beside one-shot AES-GCM.

Stream-encrypts a generated artifact (default 1 GiB) and decrypts it again, on one pinned
core, then times one `AESGCM.encrypt` call on 64 MiB as the baseline. Prints a table, then
exactly one JSON line of the figures, each beside its goal:

    encrypt and decrypt >= 1.5 GB/s each (GB = 10^9 bytes); peak RSS < 64 MiB while streaming.

Phases (each streaming phase runs --repeat times; the median counts):
- encrypt: a repeating random block read with `readinto` -> `encrypt_stream` -> null sink;
- decrypt: the ciphertext in a temporary file (written once by the phase below, so read
  from the page cache) -> `decrypt_stream` -> null sink;
- informational: encrypt to that temporary file (pays the page-cache write), and encrypt
  with SHA-256 of the plaintext in the same pass (what the storage service does).

Peak RSS is the process high-water mark (`getrusage`) read after the streaming phases and
before the baseline allocates its 128 MiB, so it covers start-up and streaming only.

Usage: .venv/bin/python bench/crypto.py [--size-mib 1024] [--segment-mib 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from mlgov.crypto.digest import HashingReader  # noqa: E402
from mlgov.crypto.streaming import decrypt_stream, encrypt_stream  # noqa: E402

MIB = 1 << 20
GOAL_GBPS = 1.5
GOAL_RSS_MIB = 64
BASELINE_MIB = 64


class PatternReader(io.RawIOBase):
    """`total` bytes of a repeating random block, served by `readinto` without holding them."""

    def __init__(self, block: bytes, total: int) -> None:
        self._block = memoryview(block)
        self._offset = 0
        self._left = total

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._left:
            n = min(len(view) - filled, len(self._block) - self._offset, self._left)
            view[filled : filled + n] = self._block[self._offset : self._offset + n]
            self._offset = (self._offset + n) % len(self._block)
            self._left -= n
            filled += n
        return filled


class NullSink:
    """Counts what it is given and keeps nothing."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def gbps(size: int, seconds: float) -> float:
    return size / seconds / 1e9


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="artifact size (MiB)")
    parser.add_argument("--segment-mib", type=float, default=1, help="segment size (MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per streaming phase")
    parser.add_argument("--tmpdir", default=None, help="where the ciphertext file goes")
    args = parser.parse_args()

    size = args.size_mib * MIB
    segment = int(args.segment_mib * MIB)
    pinning = pin_to_one_core()
    key, ad = AESGCM.generate_key(256), b"bench/tenant/artifact/v1"
    block = os.urandom(4 * MIB + 4093)  # odd length: no alignment with segments
    rss_at_start = current_rss_mib()

    def source() -> PatternReader:
        return PatternReader(block, size)

    runs: dict[str, list[float]] = {"encrypt": [], "decrypt": []}
    with tempfile.NamedTemporaryFile(dir=args.tmpdir, prefix="mlgov-bench-") as ciphertext:
        to_file = timed(lambda: encrypt_stream(key, ad, source(), ciphertext, segment_size=segment))
        ciphertext.flush()
        ciphertext_size = ciphertext.tell()
        for _ in range(args.repeat):
            runs["encrypt"].append(
                timed(lambda: encrypt_stream(key, ad, source(), NullSink(), segment_size=segment))
            )
        sink = NullSink()
        for _ in range(args.repeat):
            ciphertext.seek(0)
            sink = NullSink()
            runs["decrypt"].append(timed(lambda: decrypt_stream(key, ad, ciphertext, sink)))  # noqa: B023
        if sink.size != size:
            print(f"decrypted {sink.size} bytes, expected {size}", file=sys.stderr)
            return 1
        hashing = HashingReader(source())  # type: ignore[arg-type]
        with_sha = timed(lambda: encrypt_stream(key, ad, hashing, NullSink(), segment_size=segment))
    streaming_peak = peak_rss_mib()

    # Baseline: one-shot AES-GCM on 64 MiB (best of three single calls, after a warm-up).
    aead = AESGCM(key)
    aead.encrypt(b"\0" * 12, b"warm-up", None)
    plaintext = os.urandom(BASELINE_MIB * MIB)
    baseline_runs = [timed(lambda: aead.encrypt(os.urandom(12), plaintext, None)) for _ in range(3)]
    sealed = aead.encrypt(b"\1" * 12, plaintext, None)
    baseline_decrypt = min(timed(lambda: aead.decrypt(b"\1" * 12, sealed, None)) for _ in range(3))
    baseline = gbps(len(plaintext), min(baseline_runs))

    encrypt = gbps(size, statistics.median(runs["encrypt"]))
    decrypt = gbps(size, statistics.median(runs["decrypt"]))
    rows = [
        ("stream encrypt (memory -> null sink)", encrypt, runs["encrypt"], size),
        ("stream decrypt (file -> null sink)", decrypt, runs["decrypt"], size),
        ("  info: stream encrypt -> temp file", gbps(size, to_file), [to_file], size),
        ("  info: stream encrypt + SHA-256", gbps(size, with_sha), [with_sha], size),
        ("baseline: AESGCM.encrypt 64 MiB", baseline, baseline_runs, len(plaintext)),
        (
            "  info: AESGCM.decrypt 64 MiB",
            gbps(len(plaintext), baseline_decrypt),
            [baseline_decrypt],
            len(plaintext),
        ),
    ]

    print(
        f"mlgov crypto bench: {args.size_mib} MiB artifact, {segment // 1024} KiB segments, "
        f"ciphertext {ciphertext_size / MIB:.1f} MiB, {pinning}, Python {sys.version.split()[0]}"
    )
    print(f"{'phase':<40} {'GB/s':>7} {'x baseline':>11} {'runs (s)':>24}")
    for name, rate, seconds, _ in rows:
        times = ", ".join(f"{s:.3f}" for s in seconds)
        print(f"{name:<40} {rate:>7.2f} {rate / baseline:>11.2f} {times:>24}")
    print(
        f"RSS at start {rss_at_start:.1f} MiB; peak RSS through streaming {streaming_peak:.1f} MiB"
    )
    print(f"goals: encrypt and decrypt >= {GOAL_GBPS} GB/s, peak RSS < {GOAL_RSS_MIB} MiB")

    figures = {
        "bench": "crypto",
        "size_mib": args.size_mib,
        "segment_kib": segment // 1024,
        "encrypt_gbps": {
            "value": round(encrypt, 3),
            "goal": f">= {GOAL_GBPS}",
            "met": encrypt >= GOAL_GBPS,
        },
        "decrypt_gbps": {
            "value": round(decrypt, 3),
            "goal": f">= {GOAL_GBPS}",
            "met": decrypt >= GOAL_GBPS,
        },
        "peak_rss_mib": {
            "value": round(streaming_peak, 1),
            "goal": f"< {GOAL_RSS_MIB}",
            "met": streaming_peak < GOAL_RSS_MIB,
        },
        "baseline_aesgcm_64mib_gbps": round(baseline, 3),
        "encrypt_vs_baseline": round(encrypt / baseline, 2),
        "decrypt_vs_baseline": round(decrypt / baseline, 2),
        "encrypt_to_file_gbps": round(gbps(size, to_file), 3),
        "encrypt_with_sha256_gbps": round(gbps(size, with_sha), 3),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
