"""mlgov.env: typed settings helpers that fail loudly, naming the variable."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mlgov import env

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(32, 64))).decode()


@pytest.fixture()
def clean_env(monkeypatch):
    for name in ("MLGOV_X", "MLGOV_X_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# --- env_str / env_optional --------------------------------------------------------------


def test_env_str_reads_the_value(clean_env):
    clean_env.setenv("MLGOV_X", "hello")
    assert env.env_str("MLGOV_X") == "hello"


@pytest.mark.parametrize("value", [None, ""])
def test_env_str_falls_back_to_the_default_when_unset_or_empty(clean_env, value):
    if value is not None:
        clean_env.setenv("MLGOV_X", value)
    assert env.env_str("MLGOV_X", "fallback") == "fallback"


def test_env_str_without_default_names_the_missing_variable(clean_env):
    with pytest.raises(env.EnvError, match="MLGOV_X"):
        env.env_str("MLGOV_X")


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("x", "x")])
def test_env_optional(clean_env, value, expected):
    if value is not None:
        clean_env.setenv("MLGOV_X", value)
    assert env.env_optional("MLGOV_X") == expected


# --- env_bool ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", " On "])
def test_env_bool_true_spellings(clean_env, raw):
    clean_env.setenv("MLGOV_X", raw)
    assert env.env_bool("MLGOV_X", False) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off"])
def test_env_bool_false_spellings(clean_env, raw):
    clean_env.setenv("MLGOV_X", raw)
    assert env.env_bool("MLGOV_X", True) is False


@pytest.mark.parametrize("default", [True, False])
def test_env_bool_default_when_unset_or_empty(clean_env, default):
    assert env.env_bool("MLGOV_X", default) is default
    clean_env.setenv("MLGOV_X", "")
    assert env.env_bool("MLGOV_X", default) is default


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "y e s"])
def test_env_bool_refuses_anything_else(clean_env, raw):
    clean_env.setenv("MLGOV_X", raw)
    with pytest.raises(env.EnvError, match="MLGOV_X"):
        env.env_bool("MLGOV_X", False)


# --- env_int -----------------------------------------------------------------------------


def test_env_int_reads_and_defaults(clean_env):
    assert env.env_int("MLGOV_X", 7) == 7
    clean_env.setenv("MLGOV_X", "42")
    assert env.env_int("MLGOV_X", 7) == 42
    clean_env.setenv("MLGOV_X", "-3")
    assert env.env_int("MLGOV_X", 7) == -3


@pytest.mark.parametrize("raw", ["abc", "1.5", "1e3", "0x10"])
def test_env_int_refuses_non_integers(clean_env, raw):
    clean_env.setenv("MLGOV_X", raw)
    with pytest.raises(env.EnvError, match="MLGOV_X must be an integer"):
        env.env_int("MLGOV_X", 1)


def test_env_int_enforces_the_minimum(clean_env):
    clean_env.setenv("MLGOV_X", "0")
    with pytest.raises(env.EnvError, match="at least 1"):
        env.env_int("MLGOV_X", 5, minimum=1)
    clean_env.setenv("MLGOV_X", "1")
    assert env.env_int("MLGOV_X", 5, minimum=1) == 1


# --- env_list / env_path -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.example,b.example", ["a.example", "b.example"]),
        (" a.example , ,b.example, ", ["a.example", "b.example"]),
        ("single", ["single"]),
    ],
)
def test_env_list_splits_on_commas(clean_env, raw, expected):
    clean_env.setenv("MLGOV_X", raw)
    assert env.env_list("MLGOV_X", []) == expected


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_env_list_default_is_a_copy(clean_env, raw):
    if raw is not None:
        clean_env.setenv("MLGOV_X", raw)
    default = ["localhost"]
    result = env.env_list("MLGOV_X", default)
    assert result == default
    assert result is not default


def test_env_path_resolves_and_defaults(clean_env, tmp_path):
    default = Path("/somewhere")
    assert env.env_path("MLGOV_X", default) == default
    clean_env.setenv("MLGOV_X", str(tmp_path / "sub" / ".." / "data"))
    assert env.env_path("MLGOV_X", default) == (tmp_path / "data").resolve()
    clean_env.setenv("MLGOV_X", "~/mlgov-data")
    assert env.env_path("MLGOV_X", default) == (Path.home() / "mlgov-data").resolve()


# --- env_secret --------------------------------------------------------------------------


def test_env_secret_from_the_variable(clean_env):
    clean_env.setenv("MLGOV_X", "s3cret")
    assert env.env_secret("MLGOV_X", required=True) == "s3cret"


def test_env_secret_from_a_file_stripped(clean_env, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("  s3cret\n")
    clean_env.setenv("MLGOV_X_FILE", str(secret_file))
    assert env.env_secret("MLGOV_X", required=True) == "s3cret"


def test_env_secret_refuses_both_sources(clean_env, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("a")
    clean_env.setenv("MLGOV_X", "b")
    clean_env.setenv("MLGOV_X_FILE", str(secret_file))
    with pytest.raises(env.EnvError, match="either MLGOV_X or MLGOV_X_FILE"):
        env.env_secret("MLGOV_X", required=False)


def test_env_secret_unreadable_file_names_the_variable(clean_env, tmp_path):
    clean_env.setenv("MLGOV_X_FILE", str(tmp_path / "missing"))
    with pytest.raises(env.EnvError, match="MLGOV_X_FILE"):
        env.env_secret("MLGOV_X", required=False)


def test_env_secret_empty_file_is_an_error(clean_env, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("\n  \n")
    clean_env.setenv("MLGOV_X_FILE", str(secret_file))
    with pytest.raises(env.EnvError, match="empty"):
        env.env_secret("MLGOV_X", required=False)


def test_env_secret_missing_required_names_it(clean_env):
    with pytest.raises(env.EnvError, match=r"MLGOV_X \(or MLGOV_X_FILE\) is required"):
        env.env_secret("MLGOV_X", required=True)


def test_env_secret_missing_optional_is_none(clean_env):
    assert env.env_secret("MLGOV_X", required=False) is None


def test_env_error_is_an_improperly_configured(clean_env):
    from django.core.exceptions import ImproperlyConfigured

    assert issubclass(env.EnvError, ImproperlyConfigured)


# --- parse_master_keys -------------------------------------------------------------------


def test_bare_key_is_version_one():
    assert env.parse_master_keys(KEY_A) == {1: bytes(range(32))}


def test_versioned_keys_during_a_rotation():
    keys = env.parse_master_keys(f"v1:{KEY_A}, v2:{KEY_B}")
    assert keys == {1: bytes(range(32)), 2: bytes(range(32, 64))}
    assert max(keys) == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "holds no key"),
        (" , ", "holds no key"),
        ("v1:not base64!", "not valid base64"),
        (f"v1:{base64.b64encode(b'short').decode()}", "must decode to 32 bytes, got 5"),
        (f"v1:{base64.b64encode(bytes(33)).decode()}", "got 33"),
        (f"v1:{KEY_A},v1:{KEY_B}", "names version v1 twice"),
        (f"version1:{KEY_A}", "got a version 'version1'"),
        (f"v:{KEY_A}", "got a version 'v'"),
        (f"1:{KEY_A}", "got a version '1'"),
    ],
)
def test_malformed_master_keys_stop_start_up(raw, message):
    with pytest.raises(env.EnvError, match=message) as raised:
        env.parse_master_keys(raw)
    assert "MLGOV_MASTER_KEY" in str(raised.value)
    # the key material itself never appears in the message
    assert KEY_A not in str(raised.value)
    assert KEY_B not in str(raised.value)
