"""Registering an MLflow model directory as a model version, through the registry's service.

The client sends a *source*: `models:/<logged model id>`, an mlflow-artifacts URI this
server issued, `runs:/<run_id>/<path>` or `models:/<name>/<version>`. Each names a folder
of a run's files; nothing else is accepted (a client never names a storage location).
The folder's MLmodel (YAML, read with safe_load, size-capped) says which file is the
model and in what format; that file is registered with
`model_version_register_from_run`, which inspects it statically, signs it when it passes
(skops, the client's default for scikit-learn) and keeps it unverified otherwise (pickle,
cloudpickle). The MLmodel's signature becomes the version's input/output signature.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass

import yaml
from django.contrib.auth.models import User

from registry import permissions
from registry.artifact_paths import UnsafeArtifactPath, normalize_artifact_path
from registry.artifact_store import ArtifactCorrupted, artifact_read_bytes
from registry.mlflow_api import entities, ids, lookups
from registry.mlflow_api.errors import denied, invalid, not_found
from registry.mlflow_api.logged_model_records import record_get
from registry.models import ModelVersion, ModelVersionTag, RegisteredModel, Run, RunArtifact
from registry.services.versions import Registration, model_version_register_from_run

MLMODEL = "MLmodel"
MAX_MLMODEL_BYTES = 1024 * 1024
# MLflow's sklearn serialization formats -> the registry's formats. cloudpickle writes a
# pickle; the static allow-list check decides whether its types pass.
_SKLEARN_FORMATS = {"skops": "skops", "pickle": "pickle", "cloudpickle": "pickle"}


@dataclass(frozen=True)
class Source:
    run: Run
    folder: str  # inside the run's files; "" for their top
    model_id: str  # the logged model's id, when the source is one


def _run_folder(acting_user: User, run_hex: str, path: str) -> tuple[Run, str]:
    run = lookups.run_get(acting_user=acting_user, run_id=run_hex)
    try:
        folder = normalize_artifact_path(path, allow_empty=True).rstrip("/")
    except UnsafeArtifactPath as error:
        raise invalid(f"Invalid source path: {error}") from None
    return run, folder


def _logged_model_source(acting_user: User, model_id: str, inner: str = "") -> Source:
    run = lookups.run_get(acting_user=acting_user,
                          run_id=ids.logged_model_run_uuid(model_id).hex)
    record_get(run=run, model_id=model_id)
    folder = ids.logged_model_folder(model_id)
    return Source(run, f"{folder}/{inner}".rstrip("/"), model_id)


def resolve_source(acting_user: User, source: str, model_id: str | None) -> Source:
    """The run folder a client's source names, visible to the user; refused otherwise."""
    if model_id:
        return _logged_model_source(acting_user, model_id)
    if source.startswith("models:/"):
        rest = source[len("models:/") :].strip("/")
        if ids.is_logged_model_id(rest):
            return _logged_model_source(acting_user, rest)
        name, _, number = rest.rpartition("/")
        if name and number.isdigit():
            version = lookups.version_get(acting_user=acting_user, name=name, version=number)
            return version_source(version)
        raise invalid(f"Unsupported source {source!r}.")
    if source.startswith("runs:/"):
        run_hex, _, path = source[len("runs:/") :].partition("/")
        run, folder = _run_folder(acting_user, run_hex, path)
        return Source(run, folder, "")
    target = ids.parse_artifact_uri(source)
    if target is not None and target.namespace == "runs":
        run, folder = _run_folder(acting_user, target.owner, target.name)
        return Source(run, folder, "")
    if target is not None and target.namespace == "models":
        return _logged_model_source(acting_user, target.owner, target.name)
    if target is not None and target.namespace == "model-versions":
        version = lookups.version_by_pk(acting_user=acting_user, pk=int(target.owner))
        return version_source(version)
    raise invalid(
        "mlgov registers models whose files it stores: give models:/<model_id>, runs:/<run_id>/"
        f"<path> or an mlflow-artifacts URI of this server, not {source[:200]!r}."
    )


def version_source(version: ModelVersion, tags: dict[str, str] | None = None) -> Source:
    """The run folder a registered version's files came from (`tags`: its registration
    records, when the caller has them already)."""
    tags = version_internal_tags(version) if tags is None else tags
    folder = tags.get(entities.FOLDER_TAG)
    if version.run_id is None or folder is None:
        raise invalid("This version was not registered from a run's MLflow model folder.")
    return Source(version.run, folder, tags.get(entities.MODEL_ID_TAG, ""))


def version_internal_tags(version: ModelVersion) -> dict[str, str]:
    """The registration's own records on a version (folder, model file, source)."""
    return dict(
        ModelVersionTag.objects.filter(
            model_version=version, key__startswith=entities.INTERNAL_PREFIX
        ).values_list("key", "value")
    )


def _file(run: Run, path: str) -> RunArtifact | None:
    return RunArtifact.objects.select_related("artifact").filter(run=run, path=path).first()


def read_mlmodel(source: Source) -> dict:
    path = f"{source.folder}/{MLMODEL}" if source.folder else MLMODEL
    entry = _file(source.run, path)
    if entry is None:
        raise not_found(f"No {MLMODEL} file at {path!r} of run {source.run.uuid.hex}.")
    if entry.artifact.size_bytes > MAX_MLMODEL_BYTES:
        raise invalid(f"The {MLMODEL} file is larger than {MAX_MLMODEL_BYTES} bytes.")
    try:
        document = yaml.safe_load(artifact_read_bytes(entry.artifact))
    except ArtifactCorrupted as error:
        raise invalid(f"The {MLMODEL} file is corrupted: {error}") from None
    except yaml.YAMLError as error:
        raise invalid(f"The {MLMODEL} file is not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise invalid(f"The {MLMODEL} file names no flavors.")
    return document


def model_file(document: dict) -> tuple[str, str, str]:
    """(file name inside the folder, registry format, flavor) of the MLmodel's model."""
    flavors = document["flavors"]
    sklearn = flavors.get("sklearn")
    if isinstance(sklearn, dict) and isinstance(sklearn.get("pickled_model"), str):
        fmt = _SKLEARN_FORMATS.get(str(sklearn.get("serialization_format") or "pickle"))
        if fmt is None:
            raise invalid(f"Unknown sklearn serialization {sklearn.get('serialization_format')!r}.")
        return sklearn["pickled_model"], fmt, "sklearn"
    onnx = flavors.get("onnx")
    if isinstance(onnx, dict) and isinstance(onnx.get("data"), str):
        return onnx["data"], "onnx", "onnx"
    pyfunc = flavors.get("python_function")
    if isinstance(pyfunc, dict) and isinstance(pyfunc.get("python_model"), str):
        # a cloudpickled Python model: kept, unverified unless its types pass the check
        return pyfunc["python_model"], "pickle", "python_function"
    raise invalid(
        "mlgov registers scikit-learn (skops, pickle), ONNX and pickled python_function "
        f"models; this one has flavors {sorted(flavors)}."
    )


def io_signature(document: dict) -> dict:
    """MLmodel's signature (JSON strings inside YAML) as plain JSON."""
    signature = document.get("signature")
    if not isinstance(signature, dict):
        return {}
    out = {}
    for part in ("inputs", "outputs", "params"):
        value = signature.get(part)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if value is not None:
            out[part] = value
    return out


def register(
    *,
    acting_user: User,
    model: RegisteredModel,
    source_text: str,
    model_id: str | None,
    description: str,
    tags: dict[str, str],
) -> Registration:
    """Register the MLflow model a source names as `model`'s next version."""
    lookups.require_model_permission(acting_user, model, "change")
    source = resolve_source(acting_user, source_text, model_id)
    if not permissions.has_object_permission(acting_user, source.run.experiment, "download"):
        # registering makes a downloadable copy: reading the run is not enough
        raise denied("You may not read this run's files, so you may not register them.")
    document = read_mlmodel(source)
    name, fmt, flavor = model_file(document)
    joined = posixpath.join(source.folder, name) if source.folder else name
    try:
        path = normalize_artifact_path(joined)
    except UnsafeArtifactPath as error:
        raise invalid(f"The MLmodel names an unsafe file: {error}") from None
    if source.folder and not path.startswith(f"{source.folder}/"):
        raise invalid("The MLmodel names a file outside its folder.")
    internal = {
        entities.SOURCE_TAG: source_text or ids.logged_model_artifact_uri(source.model_id),
        entities.FOLDER_TAG: source.folder,
        entities.MODEL_FILE_TAG: posixpath.relpath(path, source.folder) if source.folder else path,
    }
    if source.model_id:
        internal[entities.MODEL_ID_TAG] = source.model_id
    return model_version_register_from_run(
        acting_user=acting_user,
        model=model,
        run=source.run,
        artifact_path=path,
        model_format=fmt,
        signature=io_signature(document),
        description=description,
        tags={**tags, **internal},
        flavor=flavor,
    )
