from __future__ import annotations

from django.conf import settings
from django.db import models

from registry.models.artifacts import Artifact
from registry.models.experiments import Run


class RegisteredModel(models.Model):
    name = models.CharField(max_length=250, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("download_registeredmodel", "Can download model artifacts"),
            ("approve_registeredmodel", "Can approve promotions of the model's versions"),
            ("deploy_registeredmodel", "Can deploy the model's versions"),
        ]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    class Stage(models.TextChoices):
        NONE = "none", "None"
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"
        ARCHIVED = "archived", "Archived"

    class Status(models.TextChoices):
        PENDING = "pending_registration", "Pending registration"
        READY = "ready", "Ready"
        FAILED = "failed_registration", "Failed registration"

    class ModelFormat(models.TextChoices):
        SKOPS = "skops", "skops"
        ONNX = "onnx", "ONNX"
        PICKLE = "pickle", "pickle (checked statically)"
        JOBLIB = "joblib", "joblib (checked statically)"
        CLOUDPICKLE = "cloudpickle", "cloudpickle (checked statically)"
        MLFLOW = "mlflow", "MLflow model directory"

    registered_model = models.ForeignKey(
        RegisteredModel, on_delete=models.PROTECT, related_name="versions"
    )
    version = models.PositiveIntegerField()
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.PROTECT, related_name="model_versions"
    )
    artifact = models.ForeignKey(
        Artifact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    model_format = models.CharField(max_length=20, choices=ModelFormat.choices, blank=True)
    flavor = models.CharField(max_length=50, blank=True)
    # Verified: the server checked the file's types against its allow-list and signed it.
    verified = models.BooleanField(default=False)
    verification_detail = models.TextField(blank=True)
    signature = models.JSONField(default=dict, help_text="input and output schema")
    metrics = models.JSONField(default=dict)
    reference_profile = models.JSONField(default=dict)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.READY)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NONE)
    description = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    signed_payload = models.JSONField(default=dict)
    ed25519_signature = models.CharField(max_length=200, blank=True)
    signing_key_version = models.PositiveIntegerField(null=True, blank=True)
    # A redelivered training task finds the version it already made by this key.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["registered_model", "-version"]
        unique_together = [("registered_model", "version")]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.registered_model.name} v{self.version}"


class ModelCard(models.Model):
    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="card"
    )
    intended_use = models.TextField(blank=True)
    out_of_scope_use = models.TextField(blank=True)
    training_data = models.TextField(blank=True)
    evaluation_data = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    ethical_considerations = models.TextField(blank=True)
    owners = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    FIELDS = (
        "intended_use",
        "out_of_scope_use",
        "training_data",
        "evaluation_data",
        "limitations",
        "ethical_considerations",
        "owners",
    )

    class Meta:
        default_permissions = ()


class ModelAlias(models.Model):
    registered_model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="aliases"
    )
    alias = models.CharField(max_length=100)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="aliases"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        unique_together = [("registered_model", "alias")]
        default_permissions = ()


class StageTransition(models.Model):
    """Who moved a version to which stage or alias, when and why."""

    class Kind(models.TextChoices):
        STAGE = "stage", "Stage"
        ALIAS_SET = "alias_set", "Alias set"
        ALIAS_REMOVED = "alias_removed", "Alias removed"

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="transitions"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.STAGE)
    from_value = models.CharField(max_length=100, blank=True)
    to_value = models.CharField(max_length=100)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        default_permissions = ()


class RegisteredModelTag(models.Model):
    registered_model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="tags"
    )
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        unique_together = [("registered_model", "key")]
        default_permissions = ()


class ModelVersionTag(models.Model):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        unique_together = [("model_version", "key")]
        default_permissions = ()
