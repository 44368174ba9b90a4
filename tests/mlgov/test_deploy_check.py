"""Production settings: `check --deploy` is clean, and a missing secret stops start-up with
a message that names it. Each case runs manage.py in its own process, as a server would."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
# Variables a developer's shell or the test run may carry that must not leak in.
_STRIPPED = (
    "MLGOV_ENV",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "MLGOV_MASTER_KEY",
    "MLGOV_MASTER_KEY_FILE",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "ALLOWED_HOSTS",
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "MLGOV_TEST_DATABASE_NAME",
    "DJANGO_SETTINGS_MODULE",
)


def production_env(**overrides: str | None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in _STRIPPED}
    environ.update(
        MLGOV_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(64),
        MLGOV_MASTER_KEY="v1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="mlgov.example.com",
        DATABASE_URL="postgresql://mlgov@db.example.com:5432/mlgov",
        CELERY_BROKER_URL="redis://redis.example.com:6379/0",
    )
    for name, value in overrides.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return environ


def start(*args: str, **overrides: str | None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=production_env(**overrides),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# The cases start together: each is a Django start-up, and they need not wait for each other.
CASES = {
    "deploy": (("check", "--deploy", "--fail-level", "WARNING"), {}),
    "no SECRET_KEY": (("check",), {"SECRET_KEY": None}),
    "no MLGOV_MASTER_KEY": (("check",), {"MLGOV_MASTER_KEY": None}),
    "no DATABASE_URL": (("check",), {"DATABASE_URL": None}),
    "no CELERY_BROKER_URL": (("check",), {"CELERY_BROKER_URL": None}),
    "no ALLOWED_HOSTS": (("check",), {"ALLOWED_HOSTS": None}),
    "bad MLGOV_MASTER_KEY": (("check",), {"MLGOV_MASTER_KEY": "v1:dG9vIHNob3J0"}),
    "DEBUG on": (("check", "--deploy", "--fail-level", "WARNING"), {"DEBUG": "true"}),
}


@pytest.fixture(scope="module")
def outcomes() -> dict[str, tuple[int, str]]:
    running = {name: start(*args, **overrides) for name, (args, overrides) in CASES.items()}
    results = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=120)
        results[name] = (process.returncode, stdout + stderr)
    return results


def test_check_deploy_passes_with_production_settings(outcomes):
    # given every production variable set / when `check --deploy --fail-level WARNING` runs
    returncode, output = outcomes["deploy"]
    # then no warning at all
    assert returncode == 0, output
    assert "no issues" in output


@pytest.mark.parametrize(
    "missing",
    ["SECRET_KEY", "MLGOV_MASTER_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS"],
)
def test_missing_setting_stops_start_up_and_names_it(outcomes, missing):
    # given production with one required variable unset / when Django starts
    returncode, output = outcomes[f"no {missing}"]
    # then it fails, with a message naming the variable
    assert returncode != 0
    assert f"{missing} " in output or f"{missing} (" in output, output[-2000:]
    assert "EnvError" in output


def test_malformed_master_key_stops_start_up(outcomes):
    returncode, output = outcomes["bad MLGOV_MASTER_KEY"]
    assert returncode != 0
    assert "MLGOV_MASTER_KEY version v1 must decode to 32 bytes" in output


def test_debug_in_production_fails_the_deploy_check(outcomes):
    # given DEBUG switched on in production / then the deploy check says so
    returncode, output = outcomes["DEBUG on"]
    assert returncode != 0
    assert "security.W018" in output
