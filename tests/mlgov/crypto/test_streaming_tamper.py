"""Any change to a streamed ciphertext fails to decrypt with `CiphertextCorrupted`, on every
decryption path: flipped bytes anywhere, truncation anywhere, appended bytes, reordered,
dropped, duplicated or spliced segments, and ciphertexts moved to another binding."""

from __future__ import annotations

import os
import struct

import pytest

from mlgov.crypto.context import artifact_associated_data
from mlgov.crypto.errors import CiphertextCorrupted
from mlgov.crypto.streaming import HEADER_SIZE, StreamDecryptor, encrypt_bytes
from tests.mlgov.crypto.conftest import SEGMENT
from tests.mlgov.crypto.framing import join, split

# Four segments, the last one short.
PLAINTEXT = os.urandom(3 * SEGMENT + 5)


@pytest.fixture()
def ciphertext(data_key, associated_data) -> bytes:
    return encrypt_bytes(data_key, associated_data, PLAINTEXT, segment_size=SEGMENT)


def _refused(decrypt, key, ad, ciphertext) -> CiphertextCorrupted:
    with pytest.raises(CiphertextCorrupted) as caught:
        decrypt(key, ad, ciphertext)
    return caught.value


def test_flipping_any_byte_fails(data_key, associated_data, decrypt, ciphertext):
    for position in range(len(ciphertext)):
        for mask in (0x01, 0x80):
            tampered = bytearray(ciphertext)
            tampered[position] ^= mask
            _refused(decrypt, data_key, associated_data, bytes(tampered))


REGIONS = {
    "version": 0,
    "segment size": 3,
    "salt": 5,
    "nonce prefix": HEADER_SIZE - 1,
    "ciphertext of segment 0": HEADER_SIZE,
    "tag of segment 0": HEADER_SIZE + SEGMENT + 15,
    "ciphertext of segment 2": HEADER_SIZE + 2 * (SEGMENT + 16) + 3,
    "tag of the last segment": -1,
}


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_is_authenticated(data_key, associated_data, decrypt, ciphertext, region):
    tampered = bytearray(ciphertext)
    tampered[REGIONS[region]] ^= 0x01
    error = _refused(decrypt, data_key, associated_data, bytes(tampered))
    assert error.reason


def _decrypt_all(key, ad, ciphertext):
    decryptor = StreamDecryptor(key, ad)
    return decryptor.update(ciphertext) + decryptor.finalize()


def test_header_fields_give_named_reasons(data_key, associated_data, ciphertext):
    other_version = bytes([2]) + ciphertext[1:]
    assert (
        "unsupported header version"
        in _refused(_decrypt_all, data_key, associated_data, other_version).reason
    )
    huge = ciphertext[:1] + struct.pack(">I", 1 << 30) + ciphertext[5:]
    assert (
        "unsupported segment size" in _refused(_decrypt_all, data_key, associated_data, huge).reason
    )
    other_size = ciphertext[:1] + struct.pack(">I", SEGMENT * 2) + ciphertext[5:]
    assert _refused(_decrypt_all, data_key, associated_data, other_size).segment == 0


def test_truncation_at_every_length_fails(data_key, associated_data, decrypt, ciphertext):
    for length in range(len(ciphertext)):
        _refused(decrypt, data_key, associated_data, ciphertext[:length])


def test_truncation_at_a_segment_boundary_is_reported_as_truncated(
    data_key, associated_data, decrypt, ciphertext
):
    header, segments = split(ciphertext, SEGMENT)
    for kept in range(len(segments)):
        error = _refused(decrypt, data_key, associated_data, join(header, segments[:kept]))
        assert error.reason.startswith("truncated"), error.reason


@pytest.mark.parametrize("extra", [b"\x00", os.urandom(16), os.urandom(SEGMENT + 16)])
def test_appended_bytes_fail(data_key, associated_data, decrypt, ciphertext, extra):
    _refused(decrypt, data_key, associated_data, ciphertext + extra)


def test_appended_bytes_after_a_full_last_segment_are_named(data_key, associated_data, decrypt):
    ciphertext = encrypt_bytes(
        data_key, associated_data, os.urandom(2 * SEGMENT), segment_size=SEGMENT
    )
    error = _refused(decrypt, data_key, associated_data, ciphertext + b"\x00")
    assert error.reason == "trailing data after last segment 1"


def test_appending_a_copy_of_the_last_segment_fails(data_key, associated_data, decrypt, ciphertext):
    header, segments = split(ciphertext, SEGMENT)
    _refused(decrypt, data_key, associated_data, join(header, [*segments, segments[-1]]))


@pytest.mark.parametrize("order", [(1, 0, 2, 3), (0, 2, 1, 3), (3, 1, 2, 0), (0, 1, 3, 2)])
def test_reordered_segments_fail(data_key, associated_data, decrypt, ciphertext, order):
    header, segments = split(ciphertext, SEGMENT)
    _refused(decrypt, data_key, associated_data, join(header, [segments[i] for i in order]))


@pytest.mark.parametrize("dropped", [0, 1, 2, 3])
def test_dropped_segments_fail(data_key, associated_data, decrypt, ciphertext, dropped):
    header, segments = split(ciphertext, SEGMENT)
    del segments[dropped]
    _refused(decrypt, data_key, associated_data, join(header, segments))


@pytest.mark.parametrize("duplicated", [0, 1, 2, 3])
def test_duplicated_segments_fail(data_key, associated_data, decrypt, ciphertext, duplicated):
    header, segments = split(ciphertext, SEGMENT)
    segments.insert(duplicated, segments[duplicated])
    _refused(decrypt, data_key, associated_data, join(header, segments))


def test_segments_spliced_from_another_stream_fail(data_key, associated_data, decrypt, ciphertext):
    # given a second stream of the same plaintext under the same key and associated data
    other = encrypt_bytes(data_key, associated_data, PLAINTEXT, segment_size=SEGMENT)
    header, segments = split(ciphertext, SEGMENT)
    other_header, other_segments = split(other, SEGMENT)
    # then neither a borrowed segment nor a borrowed header passes
    _refused(decrypt, data_key, associated_data, join(header, [other_segments[0], *segments[1:]]))
    _refused(decrypt, data_key, associated_data, join(other_header, segments))


@pytest.mark.parametrize(
    "moved_to",
    [
        {"tenant_id": "alpha", "artifact_id": "a-2", "key_version": 1},
        {"tenant_id": "beta", "artifact_id": "a-1", "key_version": 1},
        {"tenant_id": "alpha", "artifact_id": "a-1", "key_version": 2},
    ],
    ids=["other artifact", "other tenant", "other key version"],
)
def test_ciphertext_moved_to_another_binding_fails(data_key, decrypt, ciphertext, moved_to):
    # given the fixture's binding is tenant alpha, artifact a-1, key version 1
    other_ad = artifact_associated_data(**moved_to)
    # when it is decrypted under another binding, then segment 0 already fails
    error = _refused(decrypt, data_key, other_ad, ciphertext)
    assert error.segment == 0
    assert "wrong key or associated data" in error.reason


def test_other_data_key_fails(associated_data, decrypt, ciphertext):
    _refused(decrypt, os.urandom(32), associated_data, ciphertext)


@pytest.mark.parametrize("kept", [0, 1, HEADER_SIZE - 1, HEADER_SIZE], ids=str)
def test_empty_or_header_only_streams_are_truncated(
    data_key, associated_data, decrypt, ciphertext, kept
):
    error = _refused(decrypt, data_key, associated_data, ciphertext[:kept])
    assert error.reason.startswith("truncated"), error.reason


def test_no_plaintext_of_a_bad_segment_is_released(data_key, associated_data, ciphertext):
    # given segment 2 is corrupted
    header, segments = split(ciphertext, SEGMENT)
    segments[2] = bytes([segments[2][0] ^ 1]) + segments[2][1:]
    decryptor = StreamDecryptor(data_key, associated_data)
    released = [decryptor.update(header)]

    # when the segments arrive one at a time
    def feed_all() -> None:
        for segment in segments:
            released.append(decryptor.update(segment))
        decryptor.finalize()

    with pytest.raises(CiphertextCorrupted) as caught:
        feed_all()
    # then only segments 0 and 1 came out, and segment 2 is named
    assert b"".join(released) == PLAINTEXT[: 2 * SEGMENT]
    assert caught.value.segment == 2
    assert caught.value.reason == "segment 2 failed authentication"


def test_a_failed_decryptor_refuses_further_use(data_key, associated_data, ciphertext):
    decryptor = StreamDecryptor(data_key, associated_data)
    with pytest.raises(CiphertextCorrupted):
        decryptor.update(b"\x09" + ciphertext[1:])
    with pytest.raises(CiphertextCorrupted, match="already failed"):
        decryptor.update(ciphertext)
    with pytest.raises(CiphertextCorrupted, match="already failed"):
        decryptor.finalize()
