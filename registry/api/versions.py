"""Model versions: `models/<id>/versions/` (register, list, get by number) and the flat
`model-versions/` (the console's list, edit, card, stage, download, transition history).

Versions inherit permissions from their model: `view` to see, `change` to register, edit,
write the card, move stages; `download` to fetch the file.
"""

from __future__ import annotations

import re
import time

import django_filters
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.viewsets import TenantGenericViewSet
from registry.api.dataset_uploads import DatasetUploadHandler
from registry.api.models import domain_error, require_object_permission
from registry.api.version_serializers import (
    ModelCardIO,
    ModelVersionOutput,
    StageInput,
    StageOutput,
    TransitionOutput,
    VersionFromRunInput,
    VersionUpdateInput,
    VersionUploadInput,
)
from registry.models import ModelCard, ModelVersion, RegisteredModel
from registry.selectors import models as selectors
from registry.services import versions as services
from registry.services.models import RegistryError
from registry.services.stages import model_version_transition


def _visible_model(request, model_pk) -> RegisteredModel:
    model = selectors.visible_models(acting_user=request.user).filter(pk=model_pk).first()
    if model is None:
        raise Http404
    return model


def _fresh(request, version: ModelVersion) -> ModelVersion:
    return selectors.model_version_list(acting_user=request.user).get(pk=version.pk)


class ModelVersionNestedViewSet(mixins.ListModelMixin, TenantGenericViewSet):
    """`models/<id>/versions/`: register (JSON from a run, or multipart upload), list, and
    `models/<id>/versions/<number>/`."""

    serializer_class = ModelVersionOutput
    parser_classes = [JSONParser, MultiPartParser]
    lookup_field = "version"
    lookup_value_regex = "[0-9]{1,9}"
    # Visibility of the model decides reads; registering needs `change` on it.
    permissions_required = {"list": None, "retrieve": None, "create": None}

    upload_handler: DatasetUploadHandler | None = None

    def initialize_request(self, request, *args, **kwargs):
        drf_request = super().initialize_request(request, *args, **kwargs)
        if self.action == "create":
            # Before anything reads the body: the `file` part is spooled encrypted under a
            # one-time key (no plaintext model file in a temporary directory) and its size
            # limit is enforced while it arrives. The handler is the datasets' one.
            self.upload_handler = DatasetUploadHandler(
                request, max_bytes=services.max_model_bytes()
            )
            request.upload_handlers = [self.upload_handler]
        return drf_request

    def finalize_response(self, request, response, *args, **kwargs):
        if self.upload_handler is not None:
            self.upload_handler.discard()
        return super().finalize_response(request, response, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ModelVersion.objects.none()
        model = _visible_model(self.request, self.kwargs["model_pk"])
        return selectors.model_version_list(acting_user=self.request.user, model_id=model.pk)

    @extend_schema(responses=ModelVersionOutput)
    def retrieve(self, request, model_pk=None, version=None, **kwargs):
        found = self.get_queryset().filter(version=int(version)).first()
        if found is None:
            raise Http404
        return Response(ModelVersionOutput(found).data)

    @extend_schema(
        request={
            "application/json": VersionFromRunInput,
            "multipart/form-data": VersionUploadInput,
        },
        responses={201: ModelVersionOutput, 200: ModelVersionOutput},
    )
    def create(self, request, model_pk=None, **kwargs):
        """Register the next version. 201 when created; 200 with the existing version when
        the idempotency key already registered one (a redelivered job)."""
        model = _visible_model(request, model_pk)
        require_object_permission(request.user, model, "change")
        uploading = request.content_type.startswith("multipart/")
        data = (VersionUploadInput if uploading else VersionFromRunInput)(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        try:
            if uploading:
                upload = fields.pop("file")
                registration = services.model_version_register_upload(
                    acting_user=request.user,
                    model=model,
                    source=upload.chunks(),
                    file_name=upload.name or "",
                    **fields,
                )
            else:
                run = selectors.run_for_registration(
                    acting_user=request.user, run_ref=fields.pop("run")
                )
                if run is None:
                    raise DomainError(
                        status_code=400,
                        code="run_not_found",
                        message="No run you may read files of has that id.",
                    )
                registration = services.model_version_register_from_run(
                    acting_user=request.user, model=model, run=run, **fields
                )
        except RegistryError as error:
            raise domain_error(error) from None
        return Response(
            ModelVersionOutput(_fresh(request, registration.version)).data,
            status=status.HTTP_201_CREATED if registration.created else status.HTTP_200_OK,
        )


# --- the flat list and per-version commands ---------------------------------------------


class ModelVersionFilter(django_filters.FilterSet):
    model = django_filters.NumberFilter(field_name="registered_model_id")
    stage = django_filters.ChoiceFilter(choices=ModelVersion.Stage.choices)
    verified = django_filters.BooleanFilter()

    class Meta:
        model = ModelVersion
        fields = ["model", "stage", "verified"]


_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {"skops": "skops", "pickle": "pkl", "joblib": "joblib", "onnx": "onnx"}


@extend_schema_view(list=extend_schema(responses=ModelVersionOutput(many=True)))
class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """`model-versions/`: every visible version (`?model=`, `?stage=`, `?verified=`)."""

    serializer_class = ModelVersionOutput
    filterset_class = ModelVersionFilter
    ordering_fields = ["created_at", "version"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    # Visibility of the model decides reads (else 404); the object permission on the model
    # decides commands (else 403).
    permissions_required = {
        "list": None,
        "retrieve": None,
        "partial_update": None,  # `change` on the model
        "card": None,  # PUT: `change` on the model
        "stage": None,  # `change` on the model; governance gates come later
        "download": None,  # `download` on the model
        "transitions": None,
    }

    def initial(self, request, *args, **kwargs):
        self._started = time.perf_counter()
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        # Server-Timing (W3C): the view's own time, authentication included, so clients
        # and bench/registry.py can tell server time from transfer time.
        response = super().finalize_response(request, response, *args, **kwargs)
        started = getattr(self, "_started", None)
        if started is not None:
            response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ModelVersion.objects.none()
        return selectors.model_version_list(acting_user=self.request.user)

    @extend_schema(request=VersionUpdateInput, responses=ModelVersionOutput)
    def partial_update(self, request, pk=None, **kwargs):
        """Only the description is edited here; stage and aliases have their own commands,
        and digest, signature, status and verification are the server's."""
        version = self.get_object()
        require_object_permission(request.user, version.registered_model, "change")
        data = VersionUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.model_version_update(
            acting_user=request.user, version=version, **data.validated_data
        )
        return Response(ModelVersionOutput(_fresh(request, version)).data)

    def _card_body(self, version: ModelVersion) -> dict:
        card: ModelCard | None = selectors.model_card_get(version=version)
        return {
            **services.model_card_fields(card),
            "model_version_id": version.pk,
            "updated_by": card.updated_by.username if card and card.updated_by else None,
            "updated_at": card.updated_at if card else None,
        }

    @extend_schema(methods=["GET"], request=None, responses=ModelCardIO)
    @extend_schema(methods=["PUT"], request=ModelCardIO, responses=ModelCardIO)
    @action(detail=True, methods=["get", "put"])
    def card(self, request, pk=None, **kwargs):
        """The model card. PUT replaces it: fields left out become blank."""
        version = self.get_object()
        if request.method == "PUT":
            require_object_permission(request.user, version.registered_model, "change")
            data = ModelCardIO(data=request.data)
            data.is_valid(raise_exception=True)
            services.model_card_put(
                acting_user=request.user, version=version, **data.validated_data
            )
        return Response(self._card_body(version))

    @extend_schema(request=StageInput, responses=StageOutput)
    @action(detail=True, methods=["post"])
    def stage(self, request, pk=None, **kwargs):
        """Move the version to a stage. Production archives the model's previous production
        version; both moves are recorded with who, when and why."""
        version = self.get_object()
        require_object_permission(request.user, version.registered_model, "change")
        data = StageInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            transitions = model_version_transition(
                acting_user=request.user, version=version, **data.validated_data
            )
        except RegistryError as error:
            raise domain_error(error) from None
        return Response(
            {
                "version": ModelVersionOutput(_fresh(request, version)).data,
                "transitions": TransitionOutput(transitions, many=True).data,
            }
        )

    @extend_schema(request=None, responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None, **kwargs):
        """The model file, streamed (audited). Needs `download` on the model."""
        version = self.get_object()
        require_object_permission(request.user, version.registered_model, "download")
        try:
            chunks = services.model_version_download(acting_user=request.user, version=version)
        except RegistryError as error:
            raise domain_error(error) from None
        name = _UNSAFE_FILE_CHARS.sub("_", version.registered_model.name)[:100] or "model"
        extension = _EXTENSIONS.get(version.model_format, "bin")
        response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
        response["Content-Disposition"] = (
            f'attachment; filename="{name}-v{version.version}.{extension}"'
        )
        response["Content-Length"] = str(version.artifact.size_bytes)
        response["X-Content-SHA256"] = version.sha256
        return response

    @extend_schema(request=None, responses=TransitionOutput(many=True))
    @action(detail=True, methods=["get"])
    def transitions(self, request, pk=None, **kwargs):
        """The version's stage and alias history, newest first."""
        version = self.get_object()
        page = self.paginate_queryset(selectors.stage_transition_list(version=version))
        return self.get_paginated_response(TransitionOutput(page, many=True).data)
