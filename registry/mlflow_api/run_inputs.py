"""`/api/2.0/mlflow/runs/log-inputs` and `/runs/outputs`: what a run consumed and produced.

MLflow sends dataset *descriptions* (name, digest, source, schema), never the data. Each
is recorded on the run (tag `mlgov.mlflow.dataset_input.<digest>.<context>`, shown back
as the run's `inputs`); when its source is one of this tenant's own dataset version
downloads (`.../t/<slug>/api/v1/datasets/<id>/versions/<n>/download/`, which is what a
notebook that read the data from mlgov passes as the source), the run is also linked to
that dataset version (RunDatasetInput and a lineage edge, through the runs service).
A run's outputs are the logged models it holds (logged_model_records.py).
"""

from __future__ import annotations

import json
import re

from django.db import transaction

from registry.mlflow_api import entities, lookups
from registry.mlflow_api.base import params_of
from registry.mlflow_api.errors import invalid
from registry.mlflow_api.logged_model_records import record_get
from registry.mlflow_api.runs import run_for
from registry.models import DatasetVersion
from registry.services import runs as services

CONTEXT_TAG = "mlflow.data.context"
_DIGEST = re.compile(r"[\w-]{1,64}")
_CONTEXT = re.compile(r"[a-z0-9_-]{1,50}")
_MLGOV_DOWNLOAD = re.compile(r"/datasets/([0-9]{1,18})/versions/([0-9]{1,9})/download/?$")
_DATASET_FIELDS = ("name", "digest", "source_type", "source", "schema", "profile")


def _dataset_record(item: dict) -> tuple[str, dict, str]:
    """(tag key, canonical record, context) for one DatasetInput."""
    dataset = item.get("dataset")
    if not isinstance(dataset, dict):
        raise invalid("Every dataset input needs a dataset.")
    fields = {name: dataset.get(name, "") for name in _DATASET_FIELDS}
    if not all(isinstance(value, str) for value in fields.values()):
        raise invalid("Dataset fields are strings.")
    if not fields["name"] or not _DIGEST.fullmatch(fields["digest"] or ""):
        raise invalid("A dataset needs a name and a digest of letters, digits, '_' or '-'.")
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, dict) for tag in tags):
        raise invalid("Dataset input tags are a list of key/value objects.")
    tag_pairs = [{"key": str(tag.get("key", "")), "value": str(tag.get("value", ""))}
                 for tag in tags]
    context = next((tag["value"] for tag in tag_pairs if tag["key"] == CONTEXT_TAG), "")
    record = {"dataset": fields, "tags": tag_pairs}
    encoded = json.dumps(record, sort_keys=True, separators=(",", ":"))
    # A tag value holds 8,000 characters: the profile, then the schema give way (the name,
    # digest and source are what lineage and search use).
    for bulky in ("profile", "schema"):
        if len(encoded) <= services.MAX_TAG_VALUE_LENGTH:
            break
        fields[bulky] = ""
        encoded = json.dumps(record, sort_keys=True, separators=(",", ":"))
    if len(encoded) > services.MAX_TAG_VALUE_LENGTH:
        raise invalid("The dataset's name and source are too long to record.")
    suffix = context if _CONTEXT.fullmatch(context) else ""
    return f"{entities.DATASET_INPUT_TAG}{fields['digest']}.{suffix}", record, suffix


def _mlgov_dataset_version(source: str) -> int | None:
    """The DatasetVersion a source names when it is this tenant's download URL."""
    try:
        parsed = json.loads(source) if source else {}
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    for field in ("url", "uri", "path"):
        match = _MLGOV_DOWNLOAD.search(str(parsed.get(field) or "").split("?", 1)[0])
        if match:
            dataset_pk, number = int(match.group(1)), int(match.group(2))
            return (
                DatasetVersion.objects.filter(dataset_id=dataset_pk, version=number)
                .values_list("pk", flat=True)
                .first()
            )
    return None


@transaction.atomic
def runs_log_inputs(request):
    params = params_of(request)
    run = run_for(request, params)
    datasets = params.objects("datasets", max_items=100)
    records = {}
    links = []
    for item in datasets:
        key, record, context = _dataset_record(item)
        records[key] = json.dumps(record, sort_keys=True, separators=(",", ":"))
        version_pk = _mlgov_dataset_version(record["dataset"]["source"])
        if version_pk is not None:
            links.append((version_pk, context or "training"))
    if records:
        services.run_tags_set(acting_user=request.user, run=run, tags=records)
    for version_pk, context in links:
        services.run_dataset_input_add(
            acting_user=request.user, run=run, dataset_version_id=version_pk, context=context
        )
    for model in params.objects("models", max_items=100):  # models the run consumed
        model_id = model.get("model_id")
        lookups.run_get(acting_user=request.user, run_id=_run_of_model(model_id))
    return {}


def _run_of_model(model_id) -> str:
    from registry.mlflow_api.ids import logged_model_run_uuid

    return logged_model_run_uuid(model_id).hex


def runs_log_outputs(request):
    """Models a run produced: the run's own logged models are its outputs already; a model
    of another run is refused (mlgov keeps a model in the run that logged it)."""
    params = params_of(request)
    run = run_for(request, params)
    for model in params.objects("models", max_items=100):
        model_id = str(model.get("model_id") or "")
        if _run_of_model(model_id) != run.uuid.hex:
            raise invalid(f"Logged model {model_id!r} belongs to another run.")
        record_get(run=run, model_id=model_id)
    return {}


ROUTES = [
    ("POST", "2.0", "runs/log-inputs", runs_log_inputs, None),
    ("POST", "2.0", "runs/outputs", runs_log_outputs, None),
]
