"""`/models/` (registered models) and `/models/<id>/aliases/<alias>/`: parse, call, map errors.

Permissions: creating a model needs the role's `registry.add_registeredmodel`; everything
else is decided by the object (role-wide or granted): `view` to see it (else 404), `change`
to edit, alias or manage grants, `delete` to delete (else 403).
"""

from __future__ import annotations

import re

from django.db.models import Max
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.viewsets import ObjectPermissionModelViewSet, TenantGenericViewSet
from registry import permissions
from registry.api.object_permissions import ObjectPermissionsMixin
from registry.models import ModelAlias, ModelVersion, RegisteredModel
from registry.selectors import models as selectors
from registry.services import models as services
from registry.services.models import RegistryError
from registry.services.stages import (
    RESERVED_ALIASES,
    alias_name_check,
    model_version_transition,
)

ADD = "registry.add_registeredmodel"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def domain_error(error: RegistryError) -> DomainError:
    """A service refusal as the API's error shape."""
    return DomainError(
        status_code=error.status, code=error.code, message=error.message, details=error.details
    )


def require_object_permission(user, model: RegisteredModel, action: str) -> None:
    """403 unless the user holds `action` on the (visible) model."""
    if not permissions.has_object_permission(user, model, action):
        raise DomainError(
            status_code=403,
            code="permission_denied",
            message=f"You may see this model but not {action} it.",
        )


class StrictInput(serializers.Serializer):
    """An input serializer that names and refuses every field it does not declare, so a
    write can never smuggle in owner, stage, digest, signature or status."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(key for key in data.keys() if key not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {
                        key: [
                            serializers.ErrorDetail(
                                "This field cannot be set here.", code="not_allowed"
                            )
                        ]
                        for key in unknown
                    }
                )
        return super().to_internal_value(data)


def _name_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=250, trim_whitespace=True, **kwargs)


def _check_name(value: str) -> str:
    if _CONTROL.search(value):
        raise serializers.ValidationError("Names cannot contain control characters.")
    return value


class TagsField(serializers.DictField):
    def __init__(self, *, allow_null_values: bool = False, **kwargs):
        super().__init__(
            child=serializers.CharField(
                max_length=5000, allow_blank=True, allow_null=allow_null_values
            ),
            **kwargs,
        )

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        for key in value:
            if not key or len(key) > 250 or _CONTROL.search(key):
                raise serializers.ValidationError(f"Tag key {key[:50]!r} is not valid.")
        if len(value) > services.MAX_TAGS:
            raise serializers.ValidationError(f"At most {services.MAX_TAGS} tags.")
        return value


class RegisteredModelCreateInput(StrictInput):
    name = _name_field()
    description = serializers.CharField(allow_blank=True, default="", max_length=20000)
    tags = TagsField(required=False)

    def validate_name(self, value: str) -> str:
        return _check_name(value)


class RegisteredModelUpdateInput(StrictInput):
    name = _name_field(required=False)
    description = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    tags = TagsField(required=False, allow_null_values=True, help_text="null removes a tag")

    def validate_name(self, value: str) -> str:
        return _check_name(value)


class RegisteredModelOutput(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()
    version_count = serializers.IntegerField(read_only=True, default=0)
    latest_version = serializers.IntegerField(read_only=True, allow_null=True, default=None)
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = RegisteredModel
        fields = [
            "id",
            "name",
            "description",
            "tags",
            "aliases",
            "version_count",
            "latest_version",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_tags(self, model: RegisteredModel) -> dict[str, str]:
        return {tag.key: tag.value for tag in model.tags.all()}

    def get_aliases(self, model: RegisteredModel) -> dict[str, int]:
        return {alias.alias: alias.model_version.version for alias in model.aliases.all()}


class RegisteredModelViewSet(ObjectPermissionsMixin, ObjectPermissionModelViewSet):
    """Registered models. PUT is not offered: PATCH edits name, description and tags."""

    serializer_class = RegisteredModelOutput
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # Reads are open to every member and restricted by object permissions (an invisible
    # model is a 404, so a grant on one model works even without a role); creating needs
    # the role's add permission; edits need change/delete on the object (base viewset).
    permissions_required = {
        "list": None,
        "retrieve": None,
        "create": ADD,
        "partial_update": None,
        "destroy": None,
        "update": None,  # PUT is not in http_method_names: everyone gets 405
        "permissions_list": None,
        "permissions_grant": None,
        "permissions_revoke": None,
    }
    required_scopes = {"permissions_grant": "admin", "permissions_revoke": "admin"}
    filterset_fields = ["name"]
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RegisteredModel.objects.none()
        return selectors.registered_model_list(acting_user=self.request.user)

    def _fresh(self, model: RegisteredModel) -> RegisteredModel:
        return selectors.registered_model_list(acting_user=self.request.user).get(pk=model.pk)

    @extend_schema(request=RegisteredModelCreateInput, responses={201: RegisteredModelOutput})
    def create(self, request, **kwargs):
        data = RegisteredModelCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            model = services.registered_model_create(
                acting_user=request.user, **data.validated_data
            )
        except RegistryError as error:
            raise domain_error(error) from None
        return Response(
            RegisteredModelOutput(self._fresh(model)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=RegisteredModelUpdateInput, responses=RegisteredModelOutput)
    def partial_update(self, request, pk=None, **kwargs):
        model = self.get_object()
        data = RegisteredModelUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.registered_model_update(
                acting_user=request.user, model=model, **data.validated_data
            )
        except RegistryError as error:
            raise domain_error(error) from None
        return Response(RegisteredModelOutput(self._fresh(model)).data)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request, pk=None, **kwargs):
        model = self.get_object()
        try:
            services.registered_model_delete(acting_user=request.user, model=model)
        except RegistryError as error:
            raise domain_error(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- aliases -------------------------------------------------------------------------


class AliasInput(StrictInput):
    version = serializers.IntegerField(min_value=1, help_text="version number within the model")
    reason = serializers.CharField(allow_blank=True, default="", max_length=5000)


class AliasOutput(serializers.Serializer):
    alias = serializers.CharField()
    model = serializers.IntegerField()
    version = serializers.IntegerField()
    model_version_id = serializers.IntegerField()


def _alias_body(alias: str, version: ModelVersion) -> dict:
    return {
        "alias": alias,
        "model": version.registered_model_id,
        "version": version.version,
        "model_version_id": version.pk,
    }


def _check_alias(alias: str) -> None:
    try:
        alias_name_check(alias)
    except RegistryError as error:
        raise domain_error(error) from None


class ModelAliasViewSet(TenantGenericViewSet):
    """`models/<id>/aliases/`: list, GET/PUT/DELETE one alias. `latest` is reserved: it
    always names the highest version and cannot be set or removed."""

    serializer_class = AliasOutput
    queryset = ModelAlias.objects.none()  # for the schema only; reads go through selectors
    lookup_field = "alias"
    # Visibility of the model decides reads; PUT and DELETE need `change` on it.
    permissions_required = {"list": None, "retrieve": None, "update": None, "destroy": None}

    def _model(self) -> RegisteredModel:
        model = (
            selectors.visible_models(acting_user=self.request.user)
            .filter(pk=self.kwargs["model_pk"])
            .first()
        )
        if model is None:
            raise Http404
        return model

    @extend_schema(responses=AliasOutput(many=True))
    def list(self, request, model_pk=None, **kwargs):
        model = self._model()
        aliases = selectors.model_alias_list(model=model)
        page = self.paginate_queryset(aliases)
        body = [_alias_body(row.alias, row.model_version) for row in page]
        return self.get_paginated_response(body)

    @extend_schema(responses=AliasOutput)
    def retrieve(self, request, model_pk=None, alias=None, **kwargs):
        model = self._model()
        if alias in RESERVED_ALIASES:
            newest = model.versions.aggregate(newest=Max("version"))["newest"]
            version = model.versions.filter(version=newest).first() if newest else None
        else:
            row = selectors.model_alias_list(model=model).filter(alias=alias).first()
            version = row.model_version if row else None
        if version is None:
            raise Http404
        return Response(_alias_body(alias, version))

    @extend_schema(request=AliasInput, responses=AliasOutput)
    def update(self, request, model_pk=None, alias=None, **kwargs):
        model = self._model()
        require_object_permission(request.user, model, "change")
        _check_alias(alias)
        data = AliasInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = model.versions.filter(version=data.validated_data["version"]).first()
        if version is None:
            raise DomainError(
                status_code=400, code="version_not_found", message="The model has no such version."
            )
        try:
            model_version_transition(
                acting_user=request.user,
                version=version,
                alias=alias,
                reason=data.validated_data["reason"],
            )
        except RegistryError as error:
            raise domain_error(error) from None
        return Response(_alias_body(alias, version))

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request, model_pk=None, alias=None, **kwargs):
        model = self._model()
        require_object_permission(request.user, model, "change")
        _check_alias(alias)
        row = selectors.model_alias_list(model=model).filter(alias=alias).first()
        if row is None:
            raise Http404
        try:
            model_version_transition(
                acting_user=request.user,
                version=row.model_version,
                alias=alias,
                remove_alias=True,
                reason=str(request.query_params.get("reason", ""))[:5000],
            )
        except RegistryError as error:
            raise domain_error(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
