"""Suite-wide fixtures: a fresh test database on real PostgreSQL, migrated once, with
named personas in two tenants (STYLE.md):

- tenant `alpha`: alice owns it; bob is a member without any role; mia maintains,
  rita reviews, audrey audits, victor views;
- tenant `beta`: carol owns it.

Each test runs in a transaction that is rolled back (`db`); tests that need committed
data (a worker process, a live server) make their own tenant with `committed_tenant`.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass

import psycopg2
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client
from django_tenants.utils import schema_context

os.environ.setdefault("MLGOV_ENV", "test")

PERSONAS_ALPHA = {
    "mia": "maintainer",
    "rita": "reviewer",
    "audrey": "auditor",
    "victor": "viewer",
}


def _admin_connection():
    # The same parameters Django uses (socket path for the embedded server included),
    # pointed at the maintenance database.
    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    params.pop("cursor_factory", None)
    params.pop("context", None)
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    return conn


def _recreate_database(name: str) -> None:
    conn = _admin_connection()
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def _create_tenant_with_personas(slug: str, owner: str, members: dict[str, str]):
    from mlgov.identity.services import member_create
    from tenants.services import tenant_create

    created = tenant_create(
        acting_user=None,
        slug=slug,
        name=slug.title(),
        owner_username=owner,
        owner_email=f"{owner}@{slug}.test",
    )
    with schema_context(created.tenant.schema_name):
        from django.contrib.auth.models import User

        for username, role in members.items():
            member_create(
                acting_user=None, username=username, email=f"{username}@{slug}.test", role=role
            )
        # bob: a member of the tenant without any role.
        if slug == "alpha":
            User.objects.create_user(username="bob", email="bob@alpha.test", password=None)
    return created.tenant


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker):
    base = settings.DATABASES["default"]["NAME"]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    test_name = f"{base}_test{('_' + worker) if worker else ''}"
    with django_db_blocker.unblock():
        for alias in connections:
            connections[alias].close()
        _recreate_database(test_name)
        settings.DATABASES["default"]["NAME"] = test_name
        connection.settings_dict["NAME"] = test_name
        call_command("migrate_tenants", verbosity=0, stdout=open(os.devnull, "w"))
        _create_tenant_with_personas("alpha", "alice", PERSONAS_ALPHA)
        _create_tenant_with_personas("beta", "carol", {})
        connection.set_schema_to_public()
    return


@pytest.fixture(scope="session", autouse=True)
def _static_files_looked_up_per_request():
    """WhiteNoise scans every static file (drf-spectacular-sidecar ships thousands) each time
    a test Client loads its middleware: ~55 ms per Client. Autorefresh looks a file up when
    it is asked for instead; static files are still served."""
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture()
def alpha(db):
    from tenants.models import Tenant

    return Tenant.objects.get(slug="alpha")


@pytest.fixture()
def beta(db):
    from tenants.models import Tenant

    return Tenant.objects.get(slug="beta")


def user_in(tenant, username):
    from django.contrib.auth.models import User

    with schema_context(tenant.schema_name):
        return User.objects.get(username=username)


@dataclass
class TenantApi:
    """A test client bound to one tenant's path and one credential."""

    tenant_slug: str
    client: Client
    authorization: str | None = None

    def url(self, path: str) -> str:
        return f"/t/{self.tenant_slug}/{path.lstrip('/')}"

    def _headers(self, extra):
        headers = dict(extra)
        if self.authorization:
            headers["HTTP_AUTHORIZATION"] = self.authorization
        return headers

    def get(self, path, **extra):
        return self.client.get(self.url(path), **self._headers(extra))

    def post(self, path, data=None, **extra):
        return self.client.post(
            self.url(path),
            data=data or {},
            content_type="application/json",
            **self._headers(extra),
        )

    def patch(self, path, data=None, **extra):
        return self.client.patch(
            self.url(path),
            data=data or {},
            content_type="application/json",
            **self._headers(extra),
        )

    def put(self, path, data=None, **extra):
        return self.client.put(
            self.url(path),
            data=data or {},
            content_type="application/json",
            **self._headers(extra),
        )

    def delete(self, path, **extra):
        return self.client.delete(self.url(path), **self._headers(extra))


def issue_token(tenant, username: str, scope: str = "admin") -> str:
    from mlgov.identity.services import token_issue

    with schema_context(tenant.schema_name):
        user = user_in(tenant, username)
        return token_issue(acting_user=None, user=user, name="test", scope=scope).plaintext


@pytest.fixture()
def api_as(db):
    """`api_as(tenant, "alice", scope="admin")`: a TenantApi with a fresh bearer token.
    `api_as(tenant, None)` is anonymous; `token_tenant=` issues the token in another tenant."""

    def make(tenant, username, scope="admin", token_tenant=None, path_tenant=None):
        client = Client()
        slug = (path_tenant or tenant).slug
        if username is None:
            return TenantApi(slug, client)
        token = issue_token(token_tenant or tenant, username, scope)
        return TenantApi(slug, client, f"Bearer {token}")

    return make


_slug_counter = itertools.count(1)


@pytest.fixture()
def committed_tenant(django_db_setup, django_db_blocker):
    """A fresh tenant whose data is committed (for worker processes and live servers).
    The test database is recreated each session, so nothing needs cleaning up."""
    with django_db_blocker.unblock():
        slug = f"c{os.getpid()}-{next(_slug_counter)}"
        tenant = _create_tenant_with_personas(slug, "owner", {"maint": "maintainer"})
        connection.set_schema_to_public()
        yield tenant


# --- platform operators and console sessions -----------------------------------------

PASSWORD = "correct-horse-battery-staple"


@dataclass
class PlatformApi(TenantApi):
    """A test client for the public schema's platform API (/api/v1/...)."""

    def url(self, path: str) -> str:
        return f"/{path.lstrip('/')}"


@pytest.fixture()
def operator(db):
    """olivia: a platform operator, a staff user of the public schema."""
    from django.contrib.auth.models import User

    with schema_context("public"):
        return User.objects.create_user(username="olivia", email="olivia@ops.test", is_staff=True)


@pytest.fixture()
def platform_api(db):
    """`platform_api(user, scope="admin")`: a PlatformApi with a token issued in `public`
    (what `token_issue --platform` does); `platform_api(None)` is anonymous."""
    from mlgov.identity.services import token_issue

    def make(user, scope="admin"):
        if user is None:
            return PlatformApi("", Client())
        with schema_context("public"):
            token = token_issue(acting_user=None, user=user, name="test", scope=scope).plaintext
        return PlatformApi("", Client(), f"Bearer {token}")

    return make


@pytest.fixture()
def console_login(db):
    """`console_login(tenant, "alice")`: a Client signed in through /t/<slug>/login/.
    The member's password is set to PASSWORD and no longer needs changing."""
    from mlgov.identity.models import Membership

    def login(tenant, username, client=None):
        with schema_context(tenant.schema_name):
            user = user_in(tenant, username)
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
            Membership.objects.filter(user=user).update(must_change_password=False)
        client = client or Client()
        # Like a browser: open the form, then post it with its CSRF token (a client with
        # enforce_csrf_checks=True needs it).
        form = client.get(f"/t/{tenant.slug}/login/")
        csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.content)
        response = client.post(
            f"/t/{tenant.slug}/login/",
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf[1].decode()},
        )
        assert response.status_code == 302, response.content
        return client

    return login
