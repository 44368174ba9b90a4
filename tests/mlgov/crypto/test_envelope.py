"""Envelope encryption: wrapped data keys open only under their master key and context, and
the key ring wraps with the newest master key and unwraps with the one the header names."""

from __future__ import annotations

import os

import pytest

from mlgov.crypto.context import data_key_context
from mlgov.crypto.envelope import (
    WRAPPED_KEY_SIZE,
    KeyRing,
    generate_data_key,
    unwrap_key,
    wrap_key,
    wrapped_key_version,
)
from mlgov.crypto.errors import KeyUnwrapFailed, UnknownKeyVersion

CONTEXT = data_key_context(tenant_id="alpha", dek_version=1)


@pytest.fixture()
def kek() -> bytes:
    return os.urandom(32)


def test_generate_data_key_gives_fresh_256_bit_keys():
    keys = {generate_data_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(key) == 32 for key in keys)


def test_wrap_and_unwrap_round_trip(kek):
    dek = generate_data_key()
    wrapped = wrap_key(kek, 7, dek, CONTEXT)
    assert len(wrapped) == WRAPPED_KEY_SIZE
    assert wrapped_key_version(wrapped) == 7
    assert dek not in wrapped
    assert unwrap_key(kek, wrapped, CONTEXT) == dek


def test_unwrap_with_another_master_key_fails(kek):
    wrapped = wrap_key(kek, 1, generate_data_key(), CONTEXT)
    with pytest.raises(KeyUnwrapFailed, match="failed authentication"):
        unwrap_key(os.urandom(32), wrapped, CONTEXT)


@pytest.mark.parametrize(
    "other_context",
    [
        data_key_context(tenant_id="beta", dek_version=1),
        data_key_context(tenant_id="alpha", dek_version=2),
        b"",
    ],
    ids=["other tenant", "other DEK version", "no context"],
)
def test_unwrap_under_another_context_fails(kek, other_context):
    wrapped = wrap_key(kek, 1, generate_data_key(), CONTEXT)
    with pytest.raises(KeyUnwrapFailed):
        unwrap_key(kek, wrapped, other_context)


def test_flipping_any_byte_of_a_wrapped_key_fails(kek):
    wrapped = wrap_key(kek, 1, generate_data_key(), CONTEXT)
    for position in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[position] ^= 0x01
        with pytest.raises(KeyUnwrapFailed):
            unwrap_key(kek, bytes(tampered), CONTEXT)


@pytest.mark.parametrize("cut", [0, 1, 5, WRAPPED_KEY_SIZE - 1])
def test_truncated_or_extended_wrapped_keys_fail(kek, cut):
    wrapped = wrap_key(kek, 1, generate_data_key(), CONTEXT)
    with pytest.raises(KeyUnwrapFailed, match="65 bytes"):
        unwrap_key(kek, wrapped[:cut], CONTEXT)
    with pytest.raises(KeyUnwrapFailed, match="65 bytes"):
        unwrap_key(kek, wrapped + b"\x00", CONTEXT)


def test_100k_wraps_under_one_master_key_never_repeat_a_nonce(kek):
    dek = generate_data_key()
    nonces = {wrap_key(kek, 1, dek, CONTEXT)[5:17] for _ in range(100_000)}
    assert len(nonces) == 100_000


@pytest.mark.parametrize(
    ("kek_size", "dek_size", "version", "error"),
    [
        (16, 32, 1, ValueError),
        (32, 31, 1, ValueError),
        (32, 32, 0, ValueError),
        (32, 32, 1 << 32, ValueError),
        (32, 32, "1", TypeError),
        (32, 32, True, TypeError),
    ],
)
def test_wrap_refuses_bad_sizes_and_versions(kek_size, dek_size, version, error):
    with pytest.raises(error):
        wrap_key(b"k" * kek_size, version, b"d" * dek_size, CONTEXT)


def test_key_ring_wraps_with_the_highest_version():
    ring = KeyRing({1: os.urandom(32), 3: os.urandom(32), 2: os.urandom(32)})
    assert ring.current_version == 3
    assert ring.versions == (1, 2, 3)
    assert wrapped_key_version(ring.wrap(generate_data_key(), CONTEXT)) == 3


def test_key_ring_unwraps_with_the_version_in_the_header():
    # given a DEK wrapped while version 1 was current
    old, new = os.urandom(32), os.urandom(32)
    dek = generate_data_key()
    wrapped = KeyRing({1: old}).wrap(dek, CONTEXT)
    # when version 2 is added, then the ring still opens it with version 1
    ring = KeyRing({1: old, 2: new})
    assert ring.unwrap(wrapped, CONTEXT) == dek
    assert ring.needs_rewrap(wrapped)


def test_key_ring_names_a_missing_version():
    wrapped = KeyRing({1: os.urandom(32)}).wrap(generate_data_key(), CONTEXT)
    ring = KeyRing({2: os.urandom(32), 3: os.urandom(32)})
    with pytest.raises(UnknownKeyVersion, match=r"version 1 \(known versions: 2, 3\)") as caught:
        ring.unwrap(wrapped, CONTEXT)
    assert caught.value.version == 1


def test_key_ring_rewrap_moves_to_the_current_version_and_is_idempotent():
    ring = KeyRing({1: os.urandom(32), 2: os.urandom(32)})
    dek = generate_data_key()
    old_wrapped = wrap_key(ring.key(1), 1, dek, CONTEXT)
    rewrapped = ring.rewrap(old_wrapped, CONTEXT)
    assert wrapped_key_version(rewrapped) == 2
    assert ring.rewrap(rewrapped, CONTEXT) == rewrapped  # already current: unchanged
    assert not ring.needs_rewrap(rewrapped)
    assert ring.unwrap(rewrapped, CONTEXT) == dek


def test_rotation_interrupted_half_way_and_run_again_loses_nothing():
    # given 40 tenants' DEKs wrapped under master key 1
    v1, v2 = os.urandom(32), os.urandom(32)
    contexts = [data_key_context(tenant_id=f"t{i}", dek_version=1) for i in range(40)]
    deks = [generate_data_key() for _ in contexts]
    stored = [KeyRing({1: v1}).wrap(d, c) for d, c in zip(deks, contexts, strict=True)]
    ring = KeyRing({1: v1, 2: v2})
    # when a rotation rewraps half of them and dies, then a second run rewraps everything
    for i in range(20):
        stored[i] = ring.rewrap(stored[i], contexts[i])
    for i in range(40):
        stored[i] = ring.rewrap(stored[i], contexts[i])
    # then once version 1 is retired every DEK still opens
    retired = KeyRing({2: v2})
    opened = [retired.unwrap(w, c) for w, c in zip(stored, contexts, strict=True)]
    assert opened == deks


def test_key_ring_refuses_empty_or_bad_keys():
    with pytest.raises(ValueError, match="at least one"):
        KeyRing({})
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing({1: b"short"})
    with pytest.raises(ValueError, match="version"):
        KeyRing({0: os.urandom(32)})


def test_key_ring_repr_shows_no_key_material():
    key = os.urandom(32)
    text = repr(KeyRing({4: key}))
    assert text == "KeyRing(versions=[4], current=4)"
    assert key.hex() not in text
