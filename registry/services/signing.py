"""Ed25519 signatures of model versions (DESIGN.md "Artifacts and keys").

At registration a verified version gets a canonical payload — tenant, model, version,
SHA-256 of the model file, format, input/output signature, payload schema, time — signed
with the tenant's current signing key. Before any load the signature is checked against the
public key of the version that signed, and the payload against the row and its artifact,
so neither a swapped file nor an edited row in the database goes unnoticed.
"""

from __future__ import annotations

from django.db import connection

from mlgov.crypto import signing
from mlgov.crypto.errors import SignatureInvalid
from registry.models import ModelVersion
from tenants.keys import KeyDestroyed, signing_key_current, signing_public_key
from tenants.models import Tenant, TenantSigningKey

# Bump when the payload's fields change; verification accepts only schemas it knows.
PAYLOAD_SCHEMA = "mlgov.model-version-signature/v1"


class ModelSignatureInvalid(Exception):
    """The version's signature or signed payload does not hold: never load it."""

    code = "model_signature_invalid"


def current_tenant() -> Tenant:
    """The tenant whose schema the connection is on (registry code runs in one)."""
    schema = getattr(connection, "schema_name", None)
    if not schema or schema == "public":
        raise RuntimeError("model signing used outside a tenant")
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return tenant
    return Tenant.objects.get(schema_name=schema)


def model_version_payload(version: ModelVersion, tenant: Tenant) -> dict:
    """The canonical payload for `version` as its row stands now (JSON-native values only)."""
    return {
        "schema": PAYLOAD_SCHEMA,
        "tenant": tenant.slug,
        "model_id": version.registered_model_id,
        "model_name": version.registered_model.name,
        "version": version.version,
        "sha256": version.sha256,
        "model_format": version.model_format,
        "io_signature": version.signature,
        "created_at": version.created_at.isoformat(),
    }


def model_version_sign(version: ModelVersion) -> None:
    """Sign `version` (saved, verified) with the tenant's current key and store the result.

    Called by the registration service inside its transaction.
    """
    if not version.verified:
        raise ValueError("only verified model versions are signed")
    tenant = current_tenant()
    key = signing_key_current(tenant)
    payload = model_version_payload(version, tenant)
    version.signed_payload = payload
    version.ed25519_signature = signing.sign(key.private_key, payload)
    version.signing_key_version = key.version
    version.save(update_fields=["signed_payload", "ed25519_signature", "signing_key_version"])


# Fields of the payload that must still match the row; the model's name is left out on
# purpose (a rename is legitimate), its id is not.
_BOUND_FIELDS = (
    "schema",
    "tenant",
    "model_id",
    "version",
    "sha256",
    "model_format",
    "io_signature",
    "created_at",
)


def model_version_signature_check(version: ModelVersion) -> None:
    """Raise ModelSignatureInvalid unless the stored signature signs the stored payload under
    the tenant's key of that version, and the payload still describes this row and artifact."""
    if not version.ed25519_signature or not version.signed_payload:
        raise ModelSignatureInvalid(f"Model version {version.pk} carries no signature.")
    if version.signing_key_version is None:
        raise ModelSignatureInvalid(f"Model version {version.pk} names no signing key.")
    tenant = current_tenant()
    try:
        public_key = signing_public_key(tenant, version.signing_key_version)
    except (TenantSigningKey.DoesNotExist, KeyDestroyed):
        raise ModelSignatureInvalid(
            f"The signing key v{version.signing_key_version} of model version {version.pk} "
            "does not exist."
        ) from None
    payload = version.signed_payload
    if not isinstance(payload, dict):
        raise ModelSignatureInvalid(f"Model version {version.pk} has a malformed payload.")
    try:
        signing.verify(public_key, payload, version.ed25519_signature)
    except (SignatureInvalid, ValueError, TypeError) as error:
        raise ModelSignatureInvalid(
            f"The signature of model version {version.pk} does not verify: {error}"
        ) from None
    expected = model_version_payload(version, tenant)
    mismatched = [field for field in _BOUND_FIELDS if payload.get(field) != expected[field]]
    artifact_digest = version.artifact.sha256 if version.artifact is not None else None
    if artifact_digest != payload.get("sha256"):
        mismatched.append("artifact.sha256")
    if mismatched:
        raise ModelSignatureInvalid(
            f"The signed payload of model version {version.pk} no longer matches its record: "
            f"{', '.join(mismatched)}."
        )
