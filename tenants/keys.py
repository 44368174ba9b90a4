"""Tenant keys: data keys (DEKs) for artifacts and Ed25519 keys for signatures.

Both are stored in `public` only wrapped by the master key (KEK) ring from the
environment (MLGOV_MASTER_KEY). The highest KEK version wraps new keys; rotation
rewraps every key under it, one row per transaction, so a rotation killed half-way
resumes where it stopped and loses nothing. Deleting a tenant destroys its keys
(crypto-shredding): its artifacts can never be decrypted again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from mlgov.audit.recorder import record_event
from mlgov.crypto import signing
from mlgov.crypto.context import data_key_context, signing_key_context
from mlgov.crypto.envelope import KeyRing, generate_data_key
from mlgov.crypto.errors import UnknownKeyVersion
from tenants.models import Tenant, TenantDataKey, TenantSigningKey


class KeyDestroyed(Exception):
    """The tenant's key was crypto-shredded; what it encrypted is gone for good."""

    code = "key_destroyed"


def master_keyring() -> KeyRing:
    return KeyRing(settings.MLGOV_MASTER_KEYS)


@dataclass(frozen=True)
class DataKey:
    version: int
    key: bytes


def _unwrap_data_key(ring: KeyRing, row: TenantDataKey) -> bytes:
    if row.state == TenantDataKey.State.DESTROYED or row.wrapped_key is None:
        raise KeyDestroyed(f"Data key v{row.version} of tenant {row.tenant_id} was destroyed.")
    context = data_key_context(tenant_id=row.tenant_id, dek_version=row.version)
    return ring.unwrap(bytes(row.wrapped_key), context)


def _create_data_key(ring: KeyRing, tenant: Tenant, version: int) -> TenantDataKey:
    context = data_key_context(tenant_id=tenant.pk, dek_version=version)
    newest = ring.current_version
    return TenantDataKey.objects.create(
        tenant=tenant,
        version=version,
        wrapped_key=ring.wrap(generate_data_key(), context),
        kek_version=newest,
    )


def _refuse_if_shredded(tenant: Tenant) -> None:
    """Before a tenant gets a new key: lock its row (tenant_keys_destroy takes the same lock,
    so the two never interleave) and refuse if it was deleted or its keys destroyed.
    Without this, a worker still busy for a deleted tenant would mint it a fresh key."""
    locked = (
        Tenant.all_objects.select_for_update(no_key=True)
        .filter(pk=tenant.pk)
        .values_list("status", flat=True)
        .first()
    )
    destroyed = TenantDataKey.objects.filter(
        tenant_id=tenant.pk, state=TenantDataKey.State.DESTROYED
    ).exists()
    if locked is None or locked == Tenant.Status.DELETED or destroyed:
        raise KeyDestroyed(f"The keys of tenant {tenant.pk} were destroyed; it gets no new ones.")


def data_key_for_new_artifacts(tenant: Tenant) -> DataKey:
    """The tenant's active data key, created on first use."""
    ring = master_keyring()
    row = TenantDataKey.objects.filter(tenant=tenant, state=TenantDataKey.State.ACTIVE).last()
    if row is None:
        try:
            with transaction.atomic():
                _refuse_if_shredded(tenant)
                row = _create_data_key(ring, tenant, version=1)
        except IntegrityError:  # another process created it first
            row = TenantDataKey.objects.get(tenant=tenant, version=1)
    return DataKey(version=row.version, key=_unwrap_data_key(ring, row))


def data_key(tenant: Tenant, version: int) -> bytes:
    """The tenant's data key of `version`, for decrypting what it encrypted."""
    row = TenantDataKey.objects.filter(tenant=tenant, version=version).first()
    if row is None:
        raise KeyDestroyed(f"Tenant {tenant.pk} has no data key v{version}.")
    return _unwrap_data_key(master_keyring(), row)


@transaction.atomic
def tenant_data_key_rotate(*, acting_user, tenant: Tenant) -> TenantDataKey:
    """A new data key version for new artifacts; older versions still decrypt."""
    ring = master_keyring()
    _refuse_if_shredded(tenant)
    current = (
        TenantDataKey.objects.select_for_update().filter(tenant=tenant).order_by("-version").first()
    )
    next_version = (current.version + 1) if current else 1
    TenantDataKey.objects.filter(tenant=tenant, state=TenantDataKey.State.ACTIVE).update(
        state=TenantDataKey.State.DECRYPT_ONLY
    )
    row = _create_data_key(ring, tenant, next_version)
    record_event(
        actor=acting_user,
        action="keys.tenant_rotate",
        object_type="tenant",
        object_id=tenant.slug,
        after={"data_key_version": next_version},
    )
    return row


@dataclass(frozen=True)
class SigningKey:
    version: int
    private_key: bytes
    public_key: bytes


def signing_key_current(tenant: Tenant) -> SigningKey:
    """The tenant's newest Ed25519 key, created on first use."""
    ring = master_keyring()
    row = TenantSigningKey.objects.filter(tenant=tenant).order_by("-version").first()
    if row is None:
        private = signing.generate_signing_key()
        context = signing_key_context(tenant_id=tenant.pk, key_version=1)
        try:
            with transaction.atomic():
                _refuse_if_shredded(tenant)
                row = TenantSigningKey.objects.create(
                    tenant=tenant,
                    version=1,
                    public_key=signing.public_key_for(private),
                    wrapped_private_key=ring.wrap(private, context),
                    kek_version=ring.current_version,
                )
        except IntegrityError:
            row = TenantSigningKey.objects.get(tenant=tenant, version=1)
    if row.wrapped_private_key is None:
        raise KeyDestroyed(f"The signing keys of tenant {tenant.pk} were destroyed.")
    context = signing_key_context(tenant_id=tenant.pk, key_version=row.version)
    private = ring.unwrap(bytes(row.wrapped_private_key), context)
    return SigningKey(version=row.version, private_key=private, public_key=bytes(row.public_key))


def signing_public_key(tenant: Tenant, version: int) -> bytes:
    """Public keys outlive destruction of the private half: old signatures still verify."""
    return bytes(TenantSigningKey.objects.get(tenant=tenant, version=version).public_key)


@dataclass(frozen=True)
class RewrapProgress:
    rewrapped: int
    already_current: int
    target_kek_version: int


def master_key_rewrap_all(*, on_row=None) -> RewrapProgress:
    """Rewrap every data and signing key under the newest master key version.

    One row per transaction: a run killed half-way leaves every row wrapped under
    either the old or the new version (both in the ring), and a second run finishes.
    """
    ring = master_keyring()
    target = ring.current_version
    _refuse_if_ring_incomplete(ring)
    rewrapped = 0
    for model, context_for in (
        (
            TenantDataKey,
            lambda row: data_key_context(tenant_id=row.tenant_id, dek_version=row.version),
        ),
        (
            TenantSigningKey,
            lambda row: signing_key_context(tenant_id=row.tenant_id, key_version=row.version),
        ),
    ):
        wrapped_field = "wrapped_key" if model is TenantDataKey else "wrapped_private_key"
        pending = (
            model.objects.exclude(kek_version=target)
            .exclude(**{f"{wrapped_field}__isnull": True})
            .values_list("pk", flat=True)
        )
        for pk in list(pending):
            with transaction.atomic():
                row = model.objects.select_for_update().filter(pk=pk).first()
                if row is None or row.kek_version == target:
                    continue  # a concurrent run did it
                if getattr(row, wrapped_field) is None:
                    continue  # destroyed (tenant deleted) since the list was taken
                wrapped = bytes(getattr(row, wrapped_field))
                setattr(row, wrapped_field, ring.rewrap(wrapped, context_for(row)))
                row.kek_version = target
                row.rewrapped_at = timezone.now()
                row.save(update_fields=[wrapped_field, "kek_version", "rewrapped_at"])
            rewrapped += 1
            if on_row is not None:
                on_row(row)
    current = TenantDataKey.objects.filter(kek_version=target).count()
    current += TenantSigningKey.objects.filter(kek_version=target).count()
    return RewrapProgress(
        rewrapped=rewrapped, already_current=current - rewrapped, target_kek_version=target
    )


def _kek_versions_in_use() -> set[int]:
    versions: set[int] = set()
    for model, field in (
        (TenantDataKey, "wrapped_key"),
        (TenantSigningKey, "wrapped_private_key"),
    ):
        rows = model.objects.exclude(**{f"{field}__isnull": True})
        versions.update(rows.values_list("kek_version", flat=True).distinct())
    return versions


def _refuse_if_ring_incomplete(ring: KeyRing) -> None:
    """Stop before the first row if a key in use is wrapped under a version the ring lacks
    (an old version removed too early, or a new one not yet added): name the version
    instead of failing half-way with one row's error."""
    missing = sorted(_kek_versions_in_use() - set(ring.versions))
    if missing:
        raise UnknownKeyVersion(missing[0], ring.versions)


def keys_remaining_on_old_versions() -> dict[int, int]:
    """How many keys each older master key version still wraps (0 everywhere: retire it)."""
    target = master_keyring().current_version
    counts: dict[int, int] = {}
    for model, field in (
        (TenantDataKey, "wrapped_key"),
        (TenantSigningKey, "wrapped_private_key"),
    ):
        rows = model.objects.exclude(kek_version=target).exclude(**{f"{field}__isnull": True})
        for version in rows.values_list("kek_version", flat=True):
            counts[version] = counts.get(version, 0) + 1
    return counts


@transaction.atomic
def tenant_keys_destroy(*, acting_user, tenant: Tenant) -> int:
    """Crypto-shred: forget every wrapped key of the tenant. Irreversible.

    Public signing keys stay, so signatures made earlier still verify; the rows stay as
    destroyed tombstones (the tenant's row stays too, see tenant_delete)."""
    # The lock _refuse_if_shredded waits on: no first key is minted while this runs.
    Tenant.all_objects.select_for_update(no_key=True).filter(pk=tenant.pk).values_list(
        "pk", flat=True
    ).first()
    destroyed = TenantDataKey.objects.filter(tenant=tenant).update(
        wrapped_key=None, state=TenantDataKey.State.DESTROYED
    )
    destroyed += TenantSigningKey.objects.filter(tenant=tenant).update(wrapped_private_key=None)
    record_event(
        actor=acting_user,
        action="keys.tenant_destroy",
        object_type="tenant",
        object_id=tenant.slug,
        after={"keys_destroyed": destroyed},
    )
    return destroyed
