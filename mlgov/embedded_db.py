"""The embedded PostgreSQL used when DATABASE_URL is unset (make run, make test).

pgserver ships PostgreSQL binaries in a wheel. The server keeps running after
the command that started it exits, so every `manage.py` command, the web
server and the workers share one database in the project's data folder.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import time
from pathlib import Path

DATABASE_NAME = "mlgov"


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return a URL for the mlgov database."""
    import pgserver  # imported here: production installs never start it

    # pgserver logs from an atexit hook, after test runners have closed their streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)

    pg_dir = data_dir / "pg"
    pg_dir.mkdir(parents=True, exist_ok=True)
    server = _server_when_ready(pgserver, pg_dir)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return f"postgresql://postgres@/{DATABASE_NAME}?host={pg_dir}"


def _server_when_ready(pgserver, pg_dir: Path, attempts: int = 10):
    """pgserver refuses a server that is still shutting down (a Ctrl-C a moment ago):
    wait for it to finish and start it again."""
    for attempt in range(attempts):
        try:
            return pgserver.get_server(str(pg_dir), cleanup_mode=None)
        except AssertionError:
            if attempt == attempts - 1:
                raise RuntimeError(
                    f"The embedded PostgreSQL in {pg_dir} did not become ready; see {pg_dir}/log."
                ) from None
            time.sleep(2)
    raise AssertionError("unreachable")


def local_secret(data_dir: Path, name: str, *, kind: str) -> str:
    """Read, or create once with mode 0600, a secret kept in the data folder.

    Only for development and tests: production reads secrets from the environment.
    """
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    if kind == "master_key":
        value = "v1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    else:
        value = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
