"""joblib files: compressed or not, array payloads skipped exactly as joblib reads them,
payloads refused wherever they hide, and decompression bounded."""

from __future__ import annotations

import io
import zlib

import joblib
import numpy as np
import pytest

from registry.model_files import ModelFileRefused, inspect_model_file, load_verified_model
from tests.registry.model_files.conftest import canary_payloads

COMPRESSIONS = [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)]


def _dump(value, path, compress, protocol=None) -> None:
    with open(path, "wb") as handle:
        joblib.dump(value, handle, compress=compress, protocol=protocol)


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=str)
def test_payloads_are_refused_alone_and_after_array_data(tmp_path, canary, compress):
    for dangerous, payload in canary_payloads(canary).items():
        # the payload alone, then after an array whose raw bytes joblib writes in between
        for name, value in [
            ("alone", payload),
            ("after_array", {"w": np.arange(50.0), "p": payload}),
        ]:
            path = tmp_path / f"{dangerous}-{name}.joblib"
            _dump(value, path, compress)
            result = inspect_model_file(path, "joblib")
            assert not result.verified
            assert any(dangerous in reason for reason in result.reasons), result.reasons
            with pytest.raises(ModelFileRefused):
                load_verified_model(path, "joblib")


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_array_bytes_that_look_like_opcodes_are_data_not_code(tmp_path, protocol):
    # given arrays whose raw bytes spell a malicious protocol-0 pickle
    evil = b"cposix\nsystem\n(S'touch /tmp/x'\ntR."
    value = {
        "bytes": np.frombuffer(evil, dtype=np.uint8),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "objects": np.array(["a", evil.decode(), None], dtype=object),
        "structured": np.zeros(3, dtype=[("a", "<i8"), ("b", "<f4")]),
        "empty": np.zeros((0, 5)),
    }
    path = tmp_path / "data.joblib"
    _dump(value, path, 0, protocol=protocol)
    # then the scan skips them exactly, and the load gives them back unchanged
    assert inspect_model_file(path, "joblib").verified
    loaded = load_verified_model(path, "joblib")
    for key, array in value.items():
        np.testing.assert_array_equal(loaded[key], array)


class _NoTell(io.RawIOBase):
    """A write-only stream without tell(): joblib then writes arrays without padding."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def tell(self) -> int:
        raise io.UnsupportedOperation("tell")


def test_arrays_written_without_alignment_padding_are_read_exactly(tmp_path, canary):
    stream = _NoTell()
    joblib.dump({"w": np.arange(7.0), "p": canary_payloads(canary)["posix.system"]}, stream)
    path = tmp_path / "unaligned.joblib"
    path.write_bytes(b"".join(stream.chunks))
    result = inspect_model_file(path, "joblib")
    assert any("posix.system" in reason for reason in result.reasons), result.reasons


@pytest.mark.parametrize("compress", [("zlib", 9), ("gzip", 9), ("bz2", 9), ("xz", 9)], ids=str)
def test_decompression_is_capped(tmp_path, compress):
    # given a small file that inflates to 32 MB
    path = tmp_path / "bomb.joblib"
    _dump(np.zeros(4_000_000), path, compress)
    assert path.stat().st_size < 1_000_000
    # when the cap is 8 MB, then it is refused without inflating it all
    result = inspect_model_file(path, "joblib", max_bytes=8_000_000)
    assert not result.verified
    assert "exceeds" in result.reasons[0]
    with pytest.raises(ModelFileRefused):
        load_verified_model(path, "joblib", max_bytes=8_000_000)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"ZF0x00000010" + zlib.compress(b"x"), "older than 0.10"),
        (b"\x04\x22\x4d\x18" + b"\x00" * 20, "lz4"),
        (zlib.compress(zlib.compress(b"\x80\x04N.")), "nested compression"),
        (zlib.compress(b"\x80\x04N.")[:-3], "truncated"),
        (zlib.compress(b"\x80\x04N.") + b"junk", "after the zlib stream"),
        (b"\x1f\x8b" + b"\x00" * 30, "corrupt gzip"),
    ],
)
def test_broken_containers_are_refused(tmp_path, content, expected):
    path = tmp_path / "broken.joblib"
    path.write_bytes(content)
    result = inspect_model_file(path, "joblib")
    assert not result.verified
    assert expected in result.reasons[0], result.reasons


def test_truncated_joblib_is_refused(tmp_path, fitted_models):
    buffer = io.BytesIO()
    joblib.dump(fitted_models["random_forest"].model, buffer)
    data = buffer.getvalue()
    for cut in (20, len(data) // 3, len(data) - 10):
        path = tmp_path / f"cut{cut}.joblib"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileRefused):
            load_verified_model(path, "joblib")
