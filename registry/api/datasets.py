"""Datasets and dataset versions under /t/<slug>/api/v1/datasets/: parse, call, map errors.

Permissions: the dataset viewset relies on the shared base (view to see, change to
PATCH, delete to DELETE). Versions inherit from their dataset: PARENT_PERMISSION says
which permission on the dataset each version action needs, checked once in `initial`.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django_tenants.utils import tenant_context
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.viewsets import ObjectPermissionModelViewSet, TenantGenericViewSet
from registry import dataset_files, permissions
from registry.api.dataset_serializers import (
    DatasetCreateInput,
    DatasetOutput,
    DatasetUpdateInput,
    DatasetVersionOutput,
    DatasetVersionUploadForm,
    VersionMetadataInput,
    metadata_from_query_dict,
)
from registry.api.dataset_uploads import (
    MULTIPART_OVERHEAD_BYTES,
    DatasetUploadHandler,
    dataset_max_bytes,
    format_of_media_type,
    raw_body_chunks,
    too_large,
)
from registry.api.object_permissions import ObjectPermissionsMixin
from registry.models import Dataset, DatasetVersion
from registry.selectors import datasets as selectors
from registry.services import datasets as services

_LOOKUP = "[0-9]{1,18}"
_MEDIA_TYPES = {
    dataset_files.CSV: "text/csv",
    dataset_files.PARQUET: "application/vnd.apache.parquet",
}
_DATASET_PATH = OpenApiParameter("dataset_pk", int, OpenApiParameter.PATH)
_VERSION_PATH = OpenApiParameter("version", int, OpenApiParameter.PATH)


def _domain_error(error: services.DatasetError) -> DomainError:
    return DomainError(
        status_code=error.status, code=error.code, message=error.message, details=error.details
    )


class DatasetViewSet(ObjectPermissionsMixin, ObjectPermissionModelViewSet):
    """Datasets the caller may see. Creating needs the role's add permission; changing and
    deleting need change and delete on the dataset (role or object grant)."""

    serializer_class = DatasetOutput
    lookup_value_regex = _LOOKUP
    http_method_names = ["get", "post", "patch", "delete", "head"]
    permissions_required = {
        "list": None,
        "retrieve": None,
        "create": "registry.add_dataset",
        "update": None,  # PUT is not offered: answered 405
        "partial_update": None,
        "destroy": None,
        "permissions_list": None,
        "permissions_grant": None,
        "permissions_revoke": None,
    }
    required_scopes = {"permissions_grant": "admin", "permissions_revoke": "admin"}
    filterset_fields = {"name": ["exact", "icontains"]}
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation, no user
            return Dataset.objects.none()
        return selectors.dataset_list(acting_user=self.request.user)

    def _output(self, dataset: Dataset) -> dict:
        # Re-read through the selector for the annotated counts.
        fresh = selectors.dataset_get(acting_user=self.request.user, dataset_id=dataset.pk)
        return DatasetOutput(fresh).data

    @extend_schema(request=DatasetCreateInput, responses={201: DatasetOutput})
    def create(self, request, *args, **kwargs):
        data = DatasetCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            dataset = services.dataset_create(acting_user=request.user, **data.validated_data)
        except services.DatasetError as error:
            raise _domain_error(error) from None
        return Response(self._output(dataset), status=status.HTTP_201_CREATED)

    @extend_schema(request=DatasetUpdateInput, responses=DatasetOutput)
    def partial_update(self, request, *args, **kwargs):
        dataset = self.get_object()
        data = DatasetUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data:
            try:
                services.dataset_update(
                    acting_user=request.user, dataset=dataset, **data.validated_data
                )
            except services.DatasetError as error:
                raise _domain_error(error) from None
        return Response(self._output(dataset))

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request, *args, **kwargs):
        dataset = self.get_object()
        try:
            services.dataset_delete(acting_user=request.user, dataset=dataset)
        except services.DatasetError as error:
            raise _domain_error(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class _RawDatasetParser(BaseParser):
    """Describes the raw-body uploads in the OpenAPI schema; the view streams the body
    itself (request.data is never read for these media types)."""

    def parse(self, stream, media_type=None, parser_context=None):
        raise DomainError(
            status_code=400, code="invalid_request", message="The body is read as a stream."
        )


class CsvBodyParser(_RawDatasetParser):
    media_type = "text/csv"


class ParquetBodyParser(_RawDatasetParser):
    media_type = "application/vnd.apache.parquet"


@extend_schema(parameters=[_DATASET_PATH])
class DatasetVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """Versions of one dataset: they inherit the dataset's permissions."""

    serializer_class = DatasetVersionOutput
    lookup_field = "version"
    lookup_value_regex = _LOOKUP
    parser_classes = [MultiPartParser, CsvBodyParser, ParquetBodyParser]
    permissions_required = {
        "list": None,
        "retrieve": None,
        "create": None,
        "destroy": None,
        "download": None,
    }
    # The permission on the parent dataset each action needs (beyond seeing it).
    PARENT_PERMISSION = {"create": "change", "destroy": "delete", "download": "download"}
    upload_handler: DatasetUploadHandler | None = None
    dataset: Dataset

    def initialize_request(self, request, *args, **kwargs):
        drf_request = super().initialize_request(request, *args, **kwargs)
        if self.action == "create":
            # Before anything reads the body (DRF's session CSRF check reads the form).
            self.upload_handler = DatasetUploadHandler(request, max_bytes=dataset_max_bytes())
            request.upload_handlers = [self.upload_handler]
        return drf_request

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        try:
            self.dataset = selectors.dataset_get(
                acting_user=request.user, dataset_id=int(kwargs["dataset_pk"])
            )
        except Dataset.DoesNotExist:
            raise NotFound() from None
        needed = self.PARENT_PERMISSION.get(self.action)
        if needed and not permissions.has_object_permission(request.user, self.dataset, needed):
            raise DomainError(
                status_code=403,
                code="permission_denied",
                message=f"You may see this dataset but not {needed} it.",
            )

    def finalize_response(self, request, response, *args, **kwargs):
        if self.upload_handler is not None:
            self.upload_handler.discard()
        return super().finalize_response(request, response, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DatasetVersion.objects.none()
        return selectors.dataset_version_list(dataset=self.dataset)

    def get_object(self) -> DatasetVersion:
        try:
            return selectors.dataset_version_get(
                dataset=self.dataset, version=int(self.kwargs["version"])
            )
        except DatasetVersion.DoesNotExist:
            raise NotFound() from None

    @extend_schema(parameters=[_VERSION_PATH])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def _content(self, request) -> tuple[object, str, dict]:
        """The file's chunks, its format and the metadata fields, by how it was sent."""
        max_bytes = dataset_max_bytes()
        try:
            declared_length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared_length = 0
        if request.content_type.lower().startswith("multipart/form-data"):
            if declared_length > max_bytes + MULTIPART_OVERHEAD_BYTES:
                raise too_large(max_bytes)
            fields = metadata_from_query_dict(request.data, ignore=("file",))
            upload = self.upload_handler.upload if self.upload_handler else None
            if upload is None:
                missing = serializers.ErrorDetail("Send the file as a `file` part.", "required")
                raise serializers.ValidationError({"file": [missing]})
            return upload.chunks(), upload.file_format, fields
        file_format = format_of_media_type(request.content_type)
        if file_format is None:
            raise DomainError(
                status_code=415,
                code="unsupported_media_type",
                message="Send multipart/form-data, text/csv or application/vnd.apache.parquet.",
            )
        if declared_length > max_bytes:
            raise too_large(max_bytes)
        fields = metadata_from_query_dict(request.query_params, ignore=("format",))
        return raw_body_chunks(request._request), file_format, fields

    @extend_schema(
        request={
            "multipart/form-data": DatasetVersionUploadForm,
            "text/csv": OpenApiTypes.BINARY,
            "application/vnd.apache.parquet": OpenApiTypes.BINARY,
        },
        parameters=[VersionMetadataInput],
        responses={201: DatasetVersionOutput},
        description=(
            "Upload a new version as multipart (`file` plus metadata fields) or as a raw "
            "CSV/Parquet body with the metadata in query parameters. Column lists are JSON "
            "lists or comma-separated names. 413 past MLGOV_DATASET_MAX_BYTES."
        ),
    )
    def create(self, request, *args, **kwargs):
        content, file_format, fields = self._content(request)
        metadata = VersionMetadataInput(data=fields)
        metadata.is_valid(raise_exception=True)
        try:
            version = services.dataset_version_create(
                acting_user=request.user,
                dataset=self.dataset,
                content=content,
                file_format=file_format,
                max_bytes=dataset_max_bytes(),
                **metadata.validated_data,
            )
        except services.DatasetError as error:
            raise _domain_error(error) from None
        return Response(DatasetVersionOutput(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[_VERSION_PATH], request=None, responses={204: None})
    def destroy(self, request, *args, **kwargs):
        version = self.get_object()
        try:
            services.dataset_version_delete(acting_user=request.user, version=version)
        except services.DatasetError as error:
            raise _domain_error(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[_VERSION_PATH],
        request=None,
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, *args, **kwargs):
        """The exact bytes uploaded, streamed; needs the download permission on the dataset."""
        version = self.get_object()
        artifact = version.artifact
        stem = slugify(self.dataset.name) or "dataset"
        filename = f"{stem}-v{version.version}.{version.file_format}"
        headers = {
            "Content-Length": str(artifact.size_bytes),
            "Content-Disposition": content_disposition_header(True, filename),
            "X-Content-SHA256": artifact.sha256,
            "Cache-Control": "no-store",
        }
        content_type = _MEDIA_TYPES[version.file_format]
        if request.method == "HEAD":  # no bytes leave: nothing to audit
            return HttpResponse(content_type=content_type, headers=headers)
        chunks = services.dataset_version_download(acting_user=request.user, version=version)
        return StreamingHttpResponse(
            _in_tenant(connection.tenant, chunks), content_type=content_type, headers=headers
        )


def _in_tenant(tenant, chunks):
    # The tenant middleware resets the schema when the view returns, before the server
    # iterates the body: decrypting (and auditing a corrupt file) must run in the tenant.
    with tenant_context(tenant):
        yield from chunks
