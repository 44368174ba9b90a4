"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium) against a real
gunicorn on the test database.

One server and two committed tenants per session:
- tenant A: `owner`, `maint` (maintainer, who made every object), `rev` (reviewer), `aud`
  (auditor), `view` (viewer), each with PASSWORD and no password change pending;
- tenant B: `owner`.
Screenshots of the main pages go to test-output/screenshots/ (git-ignored).

Without Chromium or the playwright package these tests skip and say how to enable them;
Playwright's own browser download (`playwright install`) is never used.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from tests.conftest import PASSWORD, _create_tenant_with_personas, user_in
from tests.worker_process import PROJECT_ROOT, worker_environment

CHROMIUM = os.environ.get("MLGOV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
READY_TIMEOUT = 60.0
PERSONAS_A = {"maint": "maintainer", "rev": "reviewer", "aud": "auditor", "view": "viewer"}
HOW_TO_ENABLE = (
    "browser tests skipped: {why}. Enable them with `apt-get install chromium` (they drive "
    "/usr/bin/chromium, or MLGOV_CHROMIUM) and `pip install -r requirements-dev.txt` "
    "(playwright); never `playwright install`."
)


def _skip_reason() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return HOW_TO_ENABLE.format(why=f"no Chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return HOW_TO_ENABLE.format(why="the playwright package is not installed")
    return None


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class LiveConsole:
    base: str
    tenant_a: object
    tenant_b: object
    world: object

    def url(self, tenant, path: str = "") -> str:
        return f"{self.base}/t/{tenant.slug}/{path.lstrip('/')}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _set_passwords(tenant) -> None:
    from django.contrib.auth.models import User

    from mlgov.identity.models import Membership

    with schema_context(tenant.schema_name):
        for user in User.objects.all():
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
        Membership.objects.update(must_change_password=False)


def _wait_ready(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 (loopback)
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not become ready:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def live_console(django_db_setup, django_db_blocker):
    """A gunicorn serving the test database, with tenant A's registry built by `maint`."""
    if _skip_reason():
        pytest.skip(_skip_reason())
    from tests.console.world import build_world

    with django_db_blocker.unblock():
        suffix = f"{os.getpid()}"
        tenant_a = _create_tenant_with_personas(f"web{suffix}", "owner", PERSONAS_A)
        tenant_b = _create_tenant_with_personas(f"wb{suffix}", "owner", {})
        with schema_context(tenant_a.schema_name):
            world = build_world(user_in(tenant_a, "maint"))
        _set_passwords(tenant_a)
        _set_passwords(tenant_b)
        connection.set_schema_to_public()
    port = _free_port()
    log = Path(tempfile.mkdtemp(prefix="mlgov-console-")) / "gunicorn.log"
    env = worker_environment({"LOG_LEVEL": "WARNING", "DEBUG": "false"})
    command = [
        sys.executable, "-m", "gunicorn", "mlgov.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread",
        "--threads", "4", "--timeout", "120", "--log-level", "warning",
    ]
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    live = LiveConsole(f"http://127.0.0.1:{port}", tenant_a, tenant_b, world)
    try:
        _wait_ready(process, live.url(tenant_a, "login/"), log)
        yield live
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def chromium(live_console):
    """One headless Chromium per module (Debian's, never a downloaded one). Started after
    the server's data is committed: Playwright's sync API keeps an event loop in this
    thread while it runs, which Django's async-safety check takes for async code; it stops
    with the module, so the tests after it run with the check on again."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    # The test process touches the database only before the browser starts and when the
    # session ends (closing connections); the pages are served by gunicorn.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture()
def signed_in(chromium, live_console):
    """`signed_in("maint")`: a page in a fresh browser context (its own cookies), signed in
    to tenant A (or `tenant=`) through the sign-in form."""
    contexts = []

    def sign_in(username: str, tenant=None):
        context = chromium.new_context(
            viewport={"width": 1280, "height": 860}, locale="en-GB", accept_downloads=True
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        tenant = tenant or live_console.tenant_a
        page.goto(live_console.url(tenant, "login/"))
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(live_console.url(tenant, ""))
        return page

    yield sign_in
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save the whole page as test-output/screenshots/<name>.png."""
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
