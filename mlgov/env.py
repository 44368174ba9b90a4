"""Typed settings helpers: every setting comes from the environment and fails loudly.

Secrets may come from `NAME` or from a file named in `NAME_FILE` (for Docker and
systemd credentials). A missing secret in production stops start-up with a
message that names it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


class EnvError(ImproperlyConfigured):
    """A setting is missing or malformed."""


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise EnvError(f"Environment variable {name} is required but not set.")
        return default
    return value


def env_optional(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise EnvError(f"{name} must be a boolean (true/false, 1/0, yes/no), got {raw!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EnvError(f"{name} must be an integer, got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise EnvError(f"{name} must be at least {minimum}, got {value}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return Path(raw).expanduser().resolve() if raw else default


def env_secret(name: str, *, required: bool) -> str | None:
    """Read a secret from NAME or from the file named by NAME_FILE (not both)."""
    direct = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if direct and file_name:
        raise EnvError(f"Set either {name} or {name}_FILE, not both.")
    if file_name:
        path = Path(file_name)
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise EnvError(f"{name}_FILE points to {path}, which cannot be read: {exc}.") from None
        if not value:
            raise EnvError(f"{name}_FILE points to {path}, which is empty.")
        return value
    if direct:
        return direct
    if required:
        raise EnvError(f"Secret {name} (or {name}_FILE) is required but not set.")
    return None


def parse_master_keys(raw: str) -> dict[int, bytes]:
    """Parse MLGOV_MASTER_KEY: `v1:<base64 32 bytes>[,v2:<base64>...]` or one bare key (version 1).

    Several versions exist during a key rotation; the highest is used to wrap new keys.
    """
    keys: dict[int, bytes] = {}
    for item in [part.strip() for part in raw.split(",") if part.strip()]:
        version_text, sep, encoded = item.partition(":")
        if not sep:
            version_text, encoded = "v1", item
        if not version_text.startswith("v") or not version_text[1:].isdigit():
            raise EnvError(
                "MLGOV_MASTER_KEY entries look like 'v1:<base64 key>'; "
                f"got a version {version_text!r}."
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise EnvError("MLGOV_MASTER_KEY holds a key that is not valid base64.") from None
        if len(key) != 32:
            raise EnvError(
                f"MLGOV_MASTER_KEY version {version_text} must decode to 32 bytes, got {len(key)}."
            )
        version = int(version_text[1:])
        if version in keys:
            raise EnvError(f"MLGOV_MASTER_KEY names version v{version} twice.")
        keys[version] = key
    if not keys:
        raise EnvError("MLGOV_MASTER_KEY is set but holds no key.")
    return keys
