"""Proxied artifact storage: `/api/2.0/mlflow-artifacts/artifacts[/<path>]` (list, upload,
download, delete) and MLflow 2's `/api/2.0/mlflow/artifacts/list`.

Paths are names the server issued (ids.py): `runs/<run_id>/artifacts/<name>`,
`models/<model_id>/artifacts/<name>` (a logged model's files, inside its run) and, read
only, `model-versions/<id>/artifacts/<name>`. The whole path is decoded and checked by
registry.artifact_paths.normalize_artifact_path before anything else reads it; a
traversal in any encoding is INVALID_PARAMETER_VALUE. Bytes go to and come from the
encrypted artifact store through the run-artifact services (change to write, download to
read, each download audited). A registered version's model file is served from the
version's own artifact, after its signature is checked; its other files from the run.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse

from registry.artifact_store import artifact_chunks
from registry.mlflow_api import entities, ids, lookups
from registry.mlflow_api.base import params_of
from registry.mlflow_api.errors import MlflowError, invalid, not_found
from registry.mlflow_api.logged_model_records import record_get
from registry.mlflow_api.registration import version_internal_tags, version_source
from registry.mlflow_api.services import model_version_file_download
from registry.models import ModelVersion, Run, RunArtifact
from registry.selectors import runs as run_selectors
from registry.services import run_artifacts
from registry.services.signing import ModelSignatureInvalid, model_version_signature_check
from registry.services.versions import model_version_download


def _run_and_name(request, target: ids.ArtifactTarget) -> tuple[Run, str]:
    """The run holding a `runs/` or `models/` path and the file's name among its files."""
    if target.namespace == "runs":
        return lookups.run_get(acting_user=request.user, run_id=target.owner), target.name
    run = lookups.run_get(acting_user=request.user,
                          run_id=ids.logged_model_run_uuid(target.owner).hex)
    record_get(run=run, model_id=target.owner)
    folder = ids.logged_model_folder(target.owner)
    return run, f"{folder}/{target.name}".rstrip("/")


def _stream(chunks, size: int, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = f'attachment; filename="{name.rsplit("/", 1)[-1]}"'
    return response


def _version_and_folder(request, target: ids.ArtifactTarget
                        ) -> tuple[ModelVersion, str, dict[str, str]]:
    """The version, the run folder its files came from, and its registration records."""
    version = lookups.version_by_pk(acting_user=request.user, pk=int(target.owner))
    tags = version_internal_tags(version)
    return version, version_source(version, tags).folder, tags


def artifact_download(request, artifact_path: str):
    target = ids.artifact_target(artifact_path, allow_root=False)
    if target.namespace == "model-versions":
        return _version_file(request, target)
    run, name = _run_and_name(request, target)
    entry = run_artifacts.run_artifact_download(acting_user=request.user, run=run, name=name)
    return _stream(artifact_chunks(entry.artifact), entry.artifact.size_bytes, name)


def _version_file(request, target: ids.ArtifactTarget):
    version, folder, tags = _version_and_folder(request, target)
    lookups.require_model_permission(request.user, version.registered_model, "download")
    if target.name == tags.get(entities.MODEL_FILE_TAG):
        # the registered bytes, whatever the run's file became since
        if version.verified:
            try:
                model_version_signature_check(version)
            except ModelSignatureInvalid as error:
                raise MlflowError("DATA_LOSS", str(error), 409) from None
        chunks = model_version_download(acting_user=request.user, version=version)
        return _stream(chunks, version.artifact.size_bytes, target.name)
    entry = RunArtifact.objects.select_related("artifact").filter(
        run=version.run, path=f"{folder}/{target.name}").first()
    if entry is None:
        raise not_found("The model version has no such file.")
    model_version_file_download(acting_user=request.user, version=version, entry=entry)
    return _stream(artifact_chunks(entry.artifact), entry.artifact.size_bytes, target.name)


def artifact_upload(request, artifact_path: str):
    target = ids.artifact_target(artifact_path, allow_root=False)
    if target.namespace == "model-versions":
        raise MlflowError("PERMISSION_DENIED", "A registered model version's files are read-only.")
    run, name = _run_and_name(request, target)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit():
        raise invalid("Content-Length is required.")
    # The raw request stream: read in 1 MiB chunks, encrypted as it arrives. MLflow's PUT
    # replaces a file of the same name.
    source = request._request if int(length) > 0 else []
    run_artifacts.run_artifact_write(
        acting_user=request.user, run=run, name=name, source=source, overwrite=True
    )
    return {}


def artifact_delete(request, artifact_path: str):
    target = ids.artifact_target(artifact_path, allow_root=False)
    if target.namespace == "model-versions":
        raise MlflowError("PERMISSION_DENIED", "A registered model version's files are read-only.")
    run, name = _run_and_name(request, target)
    run_artifacts.run_artifact_delete(acting_user=request.user, run=run, name=name)
    return {}


def _children(run: Run, directory: str) -> list[dict]:
    files = []
    for row in run_selectors.run_artifact_children(run=run, directory=directory)[:10_000]:
        info: dict = {"path": row["name"], "is_dir": bool(row["is_dir"])}
        if not row["is_dir"]:
            info["file_size"] = row["size_bytes"]
        files.append(info)
    return files


def artifact_list(request):
    params = params_of(request)
    target = ids.artifact_target(params.string("path", default="") or "", allow_root=True)
    if target.namespace == "model-versions":
        version, folder, _ = _version_and_folder(request, target)
        run, directory = version.run, f"{folder}/{target.name}".rstrip("/")
    else:
        run, directory = _run_and_name(request, target)
    return {"files": _children(run, directory)}


def runs_artifacts_list(request):
    """MLflow 2's listing by run id and a path inside the run's files."""
    params = params_of(request)
    raw = params.string("run_id") or params.string("run_uuid")
    if not raw:
        raise invalid("Missing value for required parameter 'run_id'.")
    run = lookups.run_get(acting_user=request.user, run_id=raw)
    path = params.string("path", default="") or ""
    if path:
        path = run_artifacts.artifact_name(path)
    files = _children(run, path)
    prefix = f"{path}/" if path else ""
    return {
        "root_uri": ids.run_artifact_uri(run),
        "files": [{**info, "path": prefix + info["path"]} for info in files],
    }


ROUTES = [
    ("GET", "2.0", "mlflow-artifacts/artifacts", artifact_list, None),
    ("GET", "2.0", "mlflow-artifacts/artifacts/<path:artifact_path>", artifact_download, None),
    ("PUT", "2.0", "mlflow-artifacts/artifacts/<path:artifact_path>", artifact_upload, None),
    ("DELETE", "2.0", "mlflow-artifacts/artifacts/<path:artifact_path>", artifact_delete, None),
    ("GET", "2.0", "artifacts/list", runs_artifacts_list, None),
]
