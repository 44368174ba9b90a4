"""Writes of identity: members, roles and tokens. Each one audited in its own transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from mlgov.audit.recorder import record_event
from mlgov.identity import roles
from mlgov.identity.errors import (
    InvalidExpiry,
    LastOwner,
    ScopeTooWide,
    ServiceAccountPassword,
    UnknownRole,
    UsernameTaken,
)
from mlgov.identity.hashers import ONE_TIME_ALGORITHM
from mlgov.identity.models import ApiToken, Membership
from mlgov.identity.scopes import scope_allows
from mlgov.identity.tokens import generate_token

MAX_TOKEN_DAYS = 366
DEFAULT_TOKEN_DAYS = 90


def generate_password() -> str:
    # 16 url-safe characters: passes every configured validator.
    return secrets.token_urlsafe(12)


def role_groups_sync() -> dict[str, Group]:
    """Create or update the role groups of the current schema with their permissions."""
    wanted = {perm for perms in roles.ROLE_PERMISSIONS.values() for perm in perms}
    by_name: dict[str, Permission] = {}
    for perm in Permission.objects.select_related("content_type"):
        name = f"{perm.content_type.app_label}.{perm.codename}"
        if name in wanted:
            by_name[name] = perm
    missing = wanted - set(by_name)
    if missing:
        raise LookupError(f"Role permissions that do not exist: {sorted(missing)}")
    groups = {}
    for role in roles.ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([by_name[name] for name in roles.ROLE_PERMISSIONS[role]])
        groups[role] = group
    return groups


def _member_snapshot(user: User) -> dict:
    return {
        "username": user.username,
        "email": user.email,
        "role": roles.role_of(user),
        "is_active": user.is_active,
    }


@dataclass(frozen=True)
class CreatedMember:
    user: User
    one_time_password: str | None


@transaction.atomic
def member_create(
    *,
    acting_user: User | None,
    username: str,
    email: str,
    role: str,
    service_account: bool = False,
) -> CreatedMember:
    """Add a member with a role. People get a one-time password; service accounts get none
    (they sign in only with tokens)."""
    if role not in roles.ROLES:
        raise UnknownRole(f"Unknown role {role!r}.", details={"roles": list(roles.ROLES)})
    if User.objects.filter(username__iexact=username).exists():
        raise UsernameTaken(f"A member named {username!r} exists already.")
    password = None if service_account else generate_password()
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin is a 409, not a 500
            user = User.objects.create_user(username=username, email=email, password=None)
    except IntegrityError:
        raise UsernameTaken(f"A member named {username!r} exists already.") from None
    if password is not None:
        user.password = make_password(password, hasher=ONE_TIME_ALGORITHM)
    else:
        user.set_unusable_password()
    user.save(update_fields=["password"])
    Membership.objects.create(
        user=user, is_service_account=service_account, must_change_password=not service_account
    )
    user.groups.set([Group.objects.get(name=role)])
    record_event(
        actor=acting_user,
        action="member.create",
        object_type="user",
        object_id=user.pk,
        after={**_member_snapshot(user), "service_account": service_account},
    )
    return CreatedMember(user=user, one_time_password=password)


def _ensure_another_owner(user: User) -> None:
    # Lock the owners' rows: two owners demoting each other at once must not both pass.
    owners = list(
        User.objects.select_for_update()
        .filter(groups__name=roles.OWNER, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not [pk for pk in owners if pk != user.pk]:
        raise LastOwner("A tenant keeps at least one active owner.")


@transaction.atomic
def member_set_role(*, acting_user: User, member: User, role: str) -> User:
    """Give a member a new role (their only one)."""
    if role not in roles.ROLES:
        raise UnknownRole(f"Unknown role {role!r}.", details={"roles": list(roles.ROLES)})
    before = _member_snapshot(member)
    if before["role"] == roles.OWNER and role != roles.OWNER:
        _ensure_another_owner(member)
    member.groups.set([Group.objects.get(name=role)])
    record_event(
        actor=acting_user,
        action="member.role_change",
        object_type="user",
        object_id=member.pk,
        before=before,
        after=_member_snapshot(member),
    )
    return member


@transaction.atomic
def member_deactivate(*, acting_user: User, member: User) -> User:
    """Deactivate a member and revoke their tokens. The row stays: the audit trail names it."""
    before = _member_snapshot(member)
    if before["role"] == roles.OWNER:
        _ensure_another_owner(member)
    member.is_active = False
    member.save(update_fields=["is_active"])
    revoked = member.api_tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    record_event(
        actor=acting_user,
        action="member.deactivate",
        object_type="user",
        object_id=member.pk,
        before=before,
        after={**_member_snapshot(member), "tokens_revoked": revoked},
    )
    return member


@transaction.atomic
def member_reset_password(*, acting_user: User | None, member: User) -> str:
    """Set a new one-time password and return it. Service accounts have none to reset."""
    if Membership.objects.filter(user=member, is_service_account=True).exists():
        raise ServiceAccountPassword(
            "Service accounts sign in with API tokens only; they have no password."
        )
    password = generate_password()
    member.password = make_password(password, hasher=ONE_TIME_ALGORITHM)
    member.save(update_fields=["password"])
    Membership.objects.update_or_create(user=member, defaults={"must_change_password": True})
    record_event(
        actor=acting_user, action="member.password_reset", object_type="user", object_id=member.pk
    )
    return password


@transaction.atomic
def member_password_changed(*, acting_user: User) -> None:
    """Record that a member chose their own password (the form has saved it)."""
    Membership.objects.filter(user=acting_user).update(must_change_password=False)
    record_event(
        actor=acting_user,
        action="member.password_change",
        object_type="user",
        object_id=acting_user.pk,
    )


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str


@transaction.atomic
def token_issue(
    *,
    acting_user: User | None,
    user: User,
    name: str,
    scope: str,
    expires_days: int = DEFAULT_TOKEN_DAYS,
    acting_scope: str | None = None,
) -> IssuedToken:
    """Issue a token for `user`. A token can only mint tokens of its own scope or narrower."""
    if scope not in ApiToken.Scope.values:
        raise ScopeTooWide(f"Unknown scope {scope!r}.", details={"scopes": ApiToken.Scope.values})
    if acting_scope is not None and not scope_allows(acting_scope, scope):
        raise ScopeTooWide(
            f"A token with scope {acting_scope!r} cannot issue a token with scope {scope!r}."
        )
    if not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise InvalidExpiry(f"Tokens expire after 1 to {MAX_TOKEN_DAYS} days.")
    new = generate_token()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=new.prefix,
        token_hash=new.token_hash,
        scope=scope,
        expires_at=timezone.now() + timedelta(days=expires_days),
    )
    record_event(
        actor=acting_user or user,
        action="token.issue",
        object_type="api_token",
        object_id=token.pk,
        after={
            "user": user.username,
            "prefix": token.prefix,
            "scope": scope,
            "expires_at": token.expires_at.isoformat(),
        },
    )
    return IssuedToken(token=token, plaintext=new.plaintext)


@transaction.atomic
def token_revoke(*, acting_user: User | None, token: ApiToken) -> ApiToken:
    """Revoke a token; revoking twice is a no-op that keeps the first time."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(
            actor=acting_user,
            action="token.revoke",
            object_type="api_token",
            object_id=token.pk,
            after={"prefix": token.prefix},
        )
    return token
