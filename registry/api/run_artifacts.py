"""One file of a run: PUT (raw body, streamed), GET (streamed download), DELETE, at
/t/<slug>/api/v1/runs/<id>/artifacts/<name>.

The name comes from the request path and is decoded and checked before anything else.
Under a real server the raw request target (gunicorn's RAW_URI, uWSGI's REQUEST_URI) is
read too: the name it holds must normalise to the same name as the once-decoded
PATH_INFO, so double encoding (`%252e%252e%252f`) and anything a proxy rewrote is caught
(PITFALLS.md: MLflow's traversal fixes were each bypassed by the next encoding). A raw
`?` ends the path: any query parameter but `overwrite` is refused, so `x?../` cannot
slip through as the name `x`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import re_path
from django.utils.http import content_disposition_header
from django_tenants.utils import tenant_context
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.viewsets import TenantGenericViewSet
from registry.api.experiments import LOOKUP, domain_error
from registry.api.run_serializers import ArtifactEntryOutput
from registry.artifact_store import ArtifactTooLarge, artifact_chunks
from registry.models import Run
from registry.selectors import runs as selectors
from registry.services import run_artifacts as services
from registry.services.experiments import TrackingError

_RAW_NAME = re.compile(r"/runs/[^/]+/artifacts/(?P<name>.*)\Z", re.DOTALL)
_QUERY_KEYS = {"upload": {"overwrite"}, "download": set(), "remove": set()}


def _unsafe(message: str) -> DomainError:
    return DomainError(status_code=400, code="unsafe_artifact_path", message=message)


def requested_name(request, decoded: str, action: str) -> str:
    """The canonical file name of this request, or a 400 `unsafe_artifact_path`."""
    unexpected = set(request.GET) - _QUERY_KEYS[action]
    if unexpected:
        raise _unsafe(
            "Unexpected query parameters; a '?' in a file name must be sent as %3F."
        )
    if decoded.endswith("/"):
        raise _unsafe("A file name cannot end with '/'.")
    try:
        name = services.artifact_name(decoded)
        raw_target = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
        if raw_target:
            path = urlsplit(raw_target).path if "://" in raw_target else raw_target
            path = path.split("?", 1)[0]
            match = _RAW_NAME.search(path.encode("latin-1").decode("utf-8"))
            if match is None or services.artifact_name(match["name"]) != name:
                raise _unsafe("The file name in the request target does not match its path.")
    except (UnicodeError, TrackingError) as error:
        if isinstance(error, TrackingError):
            raise domain_error(error) from None
        raise _unsafe("The request target is not valid UTF-8.") from None
    return name


def _in_tenant(tenant, chunks):
    # The tenant middleware resets the schema when the view returns, before the server
    # iterates the body: decrypting (and auditing a corrupt file) must run in the tenant.
    with tenant_context(tenant):
        yield from chunks


_NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="the file's name")


class RunArtifactFileViewSet(TenantGenericViewSet):
    """Upload, download and delete one file of a run."""

    lookup_value_regex = LOOKUP
    permissions_required = {"download": None, "upload": None, "remove": None}
    pagination_class = None
    filter_backends: list = []

    def _run(self, pk: str) -> Run:
        try:
            return selectors.run_for_write(acting_user=self.request.user, run_id=pk)
        except Run.DoesNotExist:
            raise NotFound() from None

    @extend_schema(
        request=None,
        parameters=[_NAME],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def download(self, request, pk=None, name=""):
        """The file's bytes, streamed; needs download on the experiment; audited."""
        name = requested_name(request, name, "download")
        run = self._run(pk)
        try:
            entry = services.run_artifact_download(acting_user=request.user, run=run, name=name)
        except TrackingError as error:
            raise domain_error(error) from None
        artifact = entry.artifact
        headers = {
            "Content-Length": str(artifact.size_bytes),
            "Content-Disposition": content_disposition_header(True, name.rsplit("/", 1)[-1]),
            "X-Content-SHA256": artifact.sha256,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return StreamingHttpResponse(
            _in_tenant(connection.tenant, artifact_chunks(artifact)),
            content_type="application/octet-stream",
            headers=headers,
        )

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[_NAME, OpenApiParameter("overwrite", bool, description="replace a file")],
        responses={201: ArtifactEntryOutput, 409: OpenApiResponse(description="exists")},
    )
    def upload(self, request, pk=None, name=""):
        """Write the raw request body as the file `name` (needs change on the experiment)."""
        name = requested_name(request, name, "upload")
        overwrite = request.GET.get("overwrite", "false").lower()
        if overwrite not in {"true", "false", "1", "0"}:
            raise DomainError(
                status_code=400, code="invalid_overwrite", message="overwrite is true or false."
            )
        length = request.META.get("CONTENT_LENGTH")
        if length is None or not str(length).isdigit():
            # Django reads a body without Content-Length as empty: refuse, never store nothing.
            raise DomainError(
                status_code=411, code="length_required", message="Send a Content-Length."
            )
        max_bytes = services.DEFAULT_MAX_BYTES
        if int(length) > max_bytes:
            raise DomainError(
                status_code=413, code="artifact_too_large",
                message=f"A run file is at most {max_bytes} bytes.",
            )
        run = self._run(pk)
        try:
            entry = services.run_artifact_write(
                acting_user=request.user, run=run, name=name,
                source=request._request,  # the raw body stream, never parsed nor buffered
                overwrite=overwrite in {"true", "1"}, max_bytes=max_bytes,
            )
        except ArtifactTooLarge as error:
            raise DomainError(status_code=413, code=error.code, message=str(error)) from None
        except TrackingError as error:
            raise domain_error(error) from None
        artifact = entry.artifact
        body = {"name": name.rsplit("/", 1)[-1], "path": name, "is_dir": False,
                "size_bytes": artifact.size_bytes, "sha256": artifact.sha256}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, parameters=[_NAME], responses={204: None})
    def remove(self, request, pk=None, name=""):
        """Delete the file (needs change on the experiment)."""
        name = requested_name(request, name, "remove")
        run = self._run(pk)
        try:
            services.run_artifact_delete(acting_user=request.user, run=run, name=name)
        except TrackingError as error:
            raise domain_error(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


# `[\s\S]` so a name with a newline still reaches the view and is refused there (a 400,
# not a 404 from the resolver); no trailing slash, since the name is a file's.
urlpatterns = [
    re_path(
        rf"^runs/(?P<pk>{LOOKUP})/artifacts/(?P<name>[\s\S]+)$",
        RunArtifactFileViewSet.as_view(
            {"get": "download", "put": "upload", "delete": "remove"}
        ),
        name="run-artifact-file",
    ),
]
