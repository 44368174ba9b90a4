"""mlgov's rows as MLflow's JSON entities (the proto3 JSON the client parses).

Plain functions over rows the callers fetched with their relations, so a page of N
entities costs a fixed number of queries. Times are milliseconds since the epoch; ids are
strings; stages and statuses are MLflow's spellings. Keys under `mlgov.` are mlgov's own
records (logged models, registration sources) and are not shown as tags.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from registry.mlflow_api import ids
from registry.mlflow_api.logged_model_records import LoggedModelRecord
from registry.models import Experiment, ModelVersion, RegisteredModel, Run
from registry.services.metrics import metric_value_out

INTERNAL_PREFIX = "mlgov."
SOURCE_TAG = "mlgov.mlflow.source"
MODEL_ID_TAG = "mlgov.mlflow.model_id"
FOLDER_TAG = "mlgov.mlflow.folder"
MODEL_FILE_TAG = "mlgov.mlflow.model_file"  # the registered file, inside the folder
DATASET_INPUT_TAG = "mlgov.mlflow.dataset_input."

STAGE_OUT = {
    ModelVersion.Stage.NONE: "None",
    ModelVersion.Stage.STAGING: "Staging",
    ModelVersion.Stage.PRODUCTION: "Production",
    ModelVersion.Stage.ARCHIVED: "Archived",
}
STAGE_IN = {value.lower(): key for key, value in STAGE_OUT.items()}
VERSION_STATUS_OUT = {
    ModelVersion.Status.PENDING: "PENDING_REGISTRATION",
    ModelVersion.Status.READY: "READY",
    ModelVersion.Status.FAILED: "FAILED_REGISTRATION",
}
LOGGED_MODEL_STATUS_OUT = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}


def ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def pairs(items) -> list[dict[str, str]]:
    """{key: value} or (key, value) rows as MLflow tag/param lists, internal keys hidden."""
    rows = items.items() if isinstance(items, dict) else items
    return [
        {"key": key, "value": value}
        for key, value in rows
        if not key.startswith(INTERNAL_PREFIX)
    ]


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    tags = dict(experiment.tags or {})
    if experiment.description and "mlflow.note.content" not in tags:
        tags["mlflow.note.content"] = experiment.description  # where MLflow keeps it
    return {
        "experiment_id": str(experiment.pk),
        "name": experiment.name,
        "artifact_location": ids.experiment_artifact_location(experiment),
        "lifecycle_stage": experiment.lifecycle_stage,
        "last_update_time": ms(experiment.updated_at),
        "creation_time": ms(experiment.created_at),
        "tags": pairs(sorted(tags.items())),
    }


def run_info_json(run: Run) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.uuid.hex,
        "run_uuid": run.uuid.hex,
        "run_name": run.name,
        "experiment_id": str(run.experiment_id),
        "user_id": run.created_by.username if run.created_by_id and run.created_by else "",
        "status": run.status.upper(),
        "start_time": ms(run.start_time),
        "artifact_uri": ids.run_artifact_uri(run),
        "lifecycle_stage": run.lifecycle_stage,
    }
    if run.end_time is not None:
        info["end_time"] = ms(run.end_time)
    return info


def metric_json(key: str, value: float, step: int, timestamp: int, **extra) -> dict[str, Any]:
    return {"key": key, "value": metric_value_out(value), "timestamp": timestamp, "step": step,
            **extra}


def run_json(
    run: Run,
    *,
    params,
    tags,
    metrics,
    dataset_inputs: list[dict] | None = None,
    model_outputs: list[dict] | None = None,
) -> dict[str, Any]:
    """`params`/`tags`: (key, value) rows; `metrics`: RunMetricLatest rows."""
    return {
        "info": run_info_json(run),
        "data": {
            "metrics": [
                metric_json(m.key, m.value, m.step, m.timestamp) for m in metrics
            ],
            "params": pairs(params),
            "tags": pairs(tags),
        },
        "inputs": {"dataset_inputs": dataset_inputs or [], "model_inputs": []},
        "outputs": {"model_outputs": model_outputs or []},
    }


def logged_model_json(record: LoggedModelRecord, metrics=()) -> dict[str, Any]:
    run = record.run
    return {
        "info": {
            "model_id": record.model_id,
            "experiment_id": str(run.experiment_id),
            "name": record.name,
            "creation_timestamp_ms": record.created_ms,
            "last_updated_timestamp_ms": record.updated_ms,
            "artifact_uri": ids.logged_model_artifact_uri(record.model_id),
            "status": LOGGED_MODEL_STATUS_OUT.get(record.status, "LOGGED_MODEL_PENDING"),
            "creator_id": run.created_by_id or 0,
            "model_type": record.model_type,
            "source_run_id": run.uuid.hex,
            "tags": pairs(sorted(record.tags.items())),
        },
        "data": {
            "params": pairs(sorted(record.params.items())),
            "metrics": [
                metric_json(m.key, m.value, m.step, m.timestamp, run_id=run.uuid.hex,
                            model_id=record.model_id)
                for m in metrics
            ],
        },
    }


def version_status_message(version: ModelVersion) -> str:
    if version.verified:
        return "Verified and signed by mlgov at registration."
    detail = version.verification_detail or "its types are not on the allow-list"
    return f"Not verified by mlgov (kept, never loaded or served by mlgov): {detail}"[:2000]


def model_version_json(version: ModelVersion) -> dict[str, Any]:
    """A version as fetched by registry.selectors.models.model_version_list (its tags,
    aliases, run UUID and creator's name are annotations of that one query)."""
    tag_map = {pair["key"]: pair["value"] for pair in (version.tag_pairs or [])}
    run_uuid = version.run_uuid
    return {
        "name": version.registered_model.name,
        "version": str(version.version),
        "creation_timestamp": ms(version.created_at),
        "last_updated_timestamp": ms(version.updated_at),
        "user_id": version.created_by_username or "",
        "current_stage": STAGE_OUT.get(version.stage, "None"),
        "description": version.description,
        "source": tag_map.get(SOURCE_TAG) or ids.version_artifact_uri(version),
        "run_id": run_uuid.hex if run_uuid else "",
        "status": VERSION_STATUS_OUT.get(version.status, "READY"),
        "status_message": version_status_message(version),
        "tags": pairs(sorted(tag_map.items())),
        "run_link": "",
        "aliases": sorted(version.alias_names or []),
        "model_id": tag_map.get(MODEL_ID_TAG, ""),
    }


def registered_model_json(
    model: RegisteredModel, *, tags=(), aliases=(), latest: list[dict] | None = None
) -> dict[str, Any]:
    """`aliases`: (alias, version number) rows; `latest`: model version JSON objects."""
    return {
        "name": model.name,
        "creation_timestamp": ms(model.created_at),
        "last_updated_timestamp": ms(model.updated_at),
        "user_id": model.created_by.username if model.created_by_id else "",
        "description": model.description,
        "latest_versions": latest or [],
        "tags": pairs(sorted(tags)),
        "aliases": [{"alias": alias, "version": str(number)} for alias, number in sorted(aliases)],
    }
