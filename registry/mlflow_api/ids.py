"""Identifiers and artifact locations as the MLflow client sees them.

- experiment_id: the experiment's primary key as a string ("0", MLflow's default
  experiment, names the experiment called "Default");
- run_id: the run's UUID as 32 hex digits (as MLflow's);
- logged model id: `m-<run uuid hex>-<8 hex>`: a logged model lives in the run that logged
  it, so its id names that run;
- artifact locations: `mlflow-artifacts:/runs/<run_id>/artifacts`,
  `mlflow-artifacts:/models/<model_id>/artifacts` and, read-only, a registered version's
  files at `mlflow-artifacts:/model-versions/<id>/artifacts`. The server assigns every one
  of them; a client never names a storage location (DESIGN.md).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass

from registry.artifact_paths import UnsafeArtifactPath, normalize_artifact_path
from registry.mlflow_api.errors import invalid

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
SCHEME = "mlflow-artifacts:"
# Where a logged model's files sit inside its run's files.
LOGGED_MODEL_FOLDER = "logged_models"

_PK = re.compile(r"[0-9]{1,18}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_MODEL_ID = re.compile(r"m-([0-9a-f]{32})-([0-9a-f]{8})")


def experiment_pk(raw) -> int | None:
    """The primary key an experiment_id names; None for "0" (the default experiment)."""
    text = str(raw if raw is not None else "").strip()
    if text == DEFAULT_EXPERIMENT_ID:
        return None
    if not _PK.fullmatch(text):
        raise invalid(f"Invalid experiment_id {raw!r}.")
    return int(text)


def run_uuid(raw) -> uuid.UUID:
    text = str(raw if raw is not None else "").strip().lower().replace("-", "")
    if not _HEX32.fullmatch(text):
        raise invalid(f"Invalid run_id {raw!r}.")
    return uuid.UUID(hex=text)


def run_id(run) -> str:
    return run.uuid.hex


def logged_model_id_new(run) -> str:
    return f"m-{run.uuid.hex}-{secrets.token_hex(4)}"


def logged_model_run_uuid(model_id) -> uuid.UUID:
    """The UUID of the run a logged model id names; invalid ids are refused."""
    match = _MODEL_ID.fullmatch(str(model_id or ""))
    if match is None:
        raise invalid(f"Invalid logged model id {model_id!r}.")
    return uuid.UUID(hex=match.group(1))


def is_logged_model_id(text: str) -> bool:
    return _MODEL_ID.fullmatch(text or "") is not None


def logged_model_folder(model_id: str) -> str:
    return f"{LOGGED_MODEL_FOLDER}/{model_id}"


def run_artifact_uri(run) -> str:
    return f"{SCHEME}/runs/{run.uuid.hex}/artifacts"


def logged_model_artifact_uri(model_id: str) -> str:
    return f"{SCHEME}/models/{model_id}/artifacts"


def version_artifact_uri(version) -> str:
    return f"{SCHEME}/model-versions/{version.pk}/artifacts"


def experiment_artifact_location(experiment) -> str:
    return f"{SCHEME}/experiments/{experiment.pk}"


@dataclass(frozen=True)
class ArtifactTarget:
    """What a path under /mlflow-artifacts/artifacts/ names: a run's files (`runs`), a
    logged model's (`models`) or a registered version's (`model-versions`), and the file
    or folder inside it ("" for its top)."""

    namespace: str
    owner: str  # run uuid hex, logged model id, or version primary key
    name: str


_NAMESPACES = {"runs", "models", "model-versions"}


def artifact_target(raw: str | None, *, allow_root: bool) -> ArtifactTarget:
    """Decode and check a client's artifact path before anything else looks at it, then
    split it. Traversal in any encoding is refused by normalize_artifact_path."""
    try:
        path = normalize_artifact_path(raw or "", allow_empty=allow_root).rstrip("/")
    except UnsafeArtifactPath as error:
        raise invalid(f"Invalid artifact path: {error}") from None
    parts = path.split("/", 3) if path else []
    if len(parts) < 3 or parts[0] not in _NAMESPACES or parts[2] != "artifacts":
        raise invalid(
            "Artifact paths are runs/<run_id>/artifacts/..., models/<model_id>/artifacts/... "
            "or model-versions/<id>/artifacts/..."
        )
    namespace, owner = parts[0], parts[1]
    name = parts[3] if len(parts) == 4 else ""
    if name:
        try:  # the name alone too: it must be a safe name inside its folder by itself
            name = normalize_artifact_path(name)
        except UnsafeArtifactPath as error:
            raise invalid(f"Invalid artifact path: {error}") from None
    if not allow_root and not name:
        raise invalid("The artifact path names no file.")
    if namespace == "runs" and not _HEX32.fullmatch(owner):
        raise invalid(f"Invalid run_id {owner!r}.")
    if namespace == "models" and not is_logged_model_id(owner):
        raise invalid(f"Invalid logged model id {owner!r}.")
    if namespace == "model-versions" and not _PK.fullmatch(owner):
        raise invalid(f"Invalid model version {owner!r}.")
    return ArtifactTarget(namespace, owner, name)


def parse_artifact_uri(uri: str) -> ArtifactTarget | None:
    """An mlflow-artifacts URI this server issued, split; None for any other URI."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        return None
    rest = uri[len(SCHEME) :]
    if rest.startswith("//"):  # mlflow-artifacts://host/...: another server's
        return None
    return artifact_target(rest.lstrip("/"), allow_root=True)
