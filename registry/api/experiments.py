"""Experiments under /t/<slug>/api/v1/experiments/: parse, call a service, map its errors.

Permissions: the shared base viewset shows only experiments the caller may view (404
otherwise) and checks change for PATCH and delete for DELETE; restore needs delete too.
Creating needs the role's add permission. The creator holds all object permissions.
"""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.viewsets import ObjectPermissionModelViewSet
from registry.api.object_permissions import ObjectPermissionsMixin
from registry.models import Experiment
from registry.selectors import experiments as selectors
from registry.services import experiments as services

LOOKUP = "[0-9]{1,18}"  # a longer number overflows bigint: a 404, not a 500


def domain_error(error: services.TrackingError) -> DomainError:
    return DomainError(
        status_code=error.status, code=error.code, message=error.message, details=error.details
    )


class StrictInput(serializers.Serializer):
    """An input that names every field it refuses (owner, status, stage, ... are not
    editable here): a 400 validation_error with code `not_editable` per unknown field."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [serializers.ErrorDetail("This field cannot be set.", "not_editable")]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


class TagsField(serializers.DictField):
    child = serializers.CharField(allow_blank=True, max_length=services.MAX_TAG_VALUE_LENGTH)

    def to_internal_value(self, data):
        tags = super().to_internal_value(data)
        try:
            return services.validate_tag_dict(tags)
        except services.TrackingError as error:
            raise serializers.ValidationError(error.message, code=error.code) from None


class ExperimentCreateInput(StrictInput):
    name = serializers.CharField(max_length=services.MAX_NAME_LENGTH)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    tags = TagsField(required=False, default=dict)


class ExperimentUpdateInput(StrictInput):
    name = serializers.CharField(max_length=services.MAX_NAME_LENGTH, required=False)
    description = serializers.CharField(allow_blank=True, required=False)
    tags = TagsField(required=False)


class ExperimentOutput(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Experiment
        fields = ["id", "name", "description", "tags", "lifecycle_stage", "created_by",
                  "created_at", "updated_at"]


_LIFECYCLE = OpenApiParameter(
    "lifecycle_stage", str, enum=list(selectors.LIFECYCLE_FILTERS),
    description="active (default), deleted or all",
)


class ExperimentViewSet(ObjectPermissionsMixin, ObjectPermissionModelViewSet):
    """Experiments the caller may see; soft delete and restore."""

    serializer_class = ExperimentOutput
    lookup_value_regex = LOOKUP
    http_method_names = ["get", "post", "patch", "delete", "head"]
    permissions_required = {
        "list": None,  # restricted to what the caller may see (empty for a member without)
        "retrieve": None,
        "create": "registry.add_experiment",
        "update": None,  # PUT is not offered: 405
        "partial_update": None,  # change on the object, checked by the base viewset
        "destroy": None,  # delete on the object, checked by the base viewset
        "restore": None,  # delete on the object, checked by the service
        "permissions_list": None,
        "permissions_grant": None,
        "permissions_revoke": None,
    }
    required_scopes = {"permissions_grant": "admin", "permissions_revoke": "admin"}
    filterset_fields = {"name": ["exact", "icontains"]}
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Experiment.objects.none()
        # Retrieve and writes see deleted experiments too (to restore them); lists filter.
        stage = "all"
        if self.action == "list":
            stage = self.request.query_params.get("lifecycle_stage", "active")
            if stage not in selectors.LIFECYCLE_FILTERS:
                raise DomainError(
                    status_code=400, code="invalid_lifecycle_stage",
                    message="lifecycle_stage is active, deleted or all.",
                )
        return selectors.experiment_list(acting_user=self.request.user, lifecycle_stage=stage)

    @extend_schema(parameters=[_LIFECYCLE])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ExperimentCreateInput, responses={201: ExperimentOutput})
    def create(self, request, *args, **kwargs):
        data = ExperimentCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            experiment = services.experiment_create(
                acting_user=request.user, **data.validated_data
            )
        except services.TrackingError as error:
            raise domain_error(error) from None
        return Response(ExperimentOutput(experiment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ExperimentUpdateInput, responses=ExperimentOutput)
    def partial_update(self, request, *args, **kwargs):
        experiment = self.get_object()
        data = ExperimentUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            experiment = services.experiment_update(
                acting_user=request.user, experiment=experiment, **data.validated_data
            )
        except services.TrackingError as error:
            raise domain_error(error) from None
        return Response(ExperimentOutput(experiment).data)

    @extend_schema(request=None, responses=ExperimentOutput)
    def destroy(self, request, *args, **kwargs):
        """Soft delete (lifecycle_stage = deleted); the name stays reserved."""
        experiment = self.get_object()
        try:
            experiment = services.experiment_delete(acting_user=request.user, experiment=experiment)
        except services.TrackingError as error:
            raise domain_error(error) from None
        return Response(ExperimentOutput(experiment).data)

    @extend_schema(request=None, responses=ExperimentOutput)
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None, **kwargs):
        """Undo a soft delete; needs delete on the experiment."""
        experiment = self.get_object()
        try:
            experiment = services.experiment_restore(
                acting_user=request.user, experiment=experiment
            )
        except services.TrackingError as error:
            raise domain_error(error) from None
        return Response(ExperimentOutput(experiment).data)
