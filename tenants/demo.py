"""The demo tenant of `make run`: one user per role, each named after its role.

Their passwords are printed at every start, so they are kept in the local data
folder (mode 0600) next to the other development secrets; the demo tenant is for
development machines only and is never created in production.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django_tenants.utils import schema_context

from mlgov.identity import roles
from mlgov.identity.models import Membership
from mlgov.identity.services import member_create
from tenants.models import Plan, Tenant
from tenants.services import tenant_create

DEMO_SLUG = "demo"


def _passwords_file() -> Path:
    return Path(settings.DATA_DIR) / "demo_passwords.json"


def _save_passwords(passwords: dict[str, str]) -> None:
    path = _passwords_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(passwords, handle, indent=2)


def demo_passwords() -> dict[str, str]:
    path = _passwords_file()
    return json.loads(path.read_text()) if path.exists() else {}


@transaction.atomic
def demo_tenant_ensure() -> tuple[Tenant, dict[str, str], bool]:
    """Create the demo tenant and its role users if missing; return (tenant, passwords, created)."""
    if settings.IS_PRODUCTION:
        raise RuntimeError("The demo tenant is for development machines only.")
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    if tenant is not None:
        return tenant, demo_passwords(), False
    # Its plan runs every demo training job at once (seed_demo submits one per recipe).
    plan, _ = Plan.objects.get_or_create(name="demo", defaults={"max_concurrent_jobs": 8})
    created = tenant_create(
        acting_user=None,
        slug=DEMO_SLUG,
        name="Demo Music Streaming",
        owner_username=roles.OWNER,
        owner_email="owner@demo.test",
        plan=plan,
    )
    passwords = {roles.OWNER: created.owner_password or ""}
    with schema_context(created.tenant.schema_name):
        for role in roles.ROLES:
            if role == roles.OWNER:
                continue
            member = member_create(
                acting_user=None, username=role, email=f"{role}@demo.test", role=role
            )
            passwords[role] = member.one_time_password or ""
        # Demo users sign in straight away; real members choose a password first.
        Membership.objects.filter(user__in=User.objects.all()).update(must_change_password=False)
    _save_passwords(passwords)
    return created.tenant, passwords, True
