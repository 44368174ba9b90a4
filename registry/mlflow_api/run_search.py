"""`/api/2.0/mlflow/runs/search`: MLflow's run filter and order-by on mlgov's tables.

The filter becomes semi-joins on the latest metrics, params and tags (never a scan of the
metric history); a page holds at most 1,000 runs and costs a fixed number of queries
whatever the number of runs, params or tags (MLflow loads every param, metric and tag of
every run it matches: PITFALLS.md).
"""

from __future__ import annotations

import json
import re
import uuid

from django.db.models import F, OuterRef, Q, Subquery

from registry.mlflow_api import entities, paging
from registry.mlflow_api.base import params_of
from registry.mlflow_api.errors import invalid
from registry.mlflow_api.experiments import VIEW_TYPES, _ms_to_datetime
from registry.mlflow_api.runs import STATUSES, run_body, with_run_relations
from registry.mlflow_api.search_filter import (
    Field,
    FilterInvalid,
    SearchSpec,
    compare,
    filter_q,
    literal_regex,
    order_expressions,
)
from registry.models import Experiment, RunMetricLatest, RunParam, RunTag
from registry.selectors import runs as run_selectors

SEARCH_MAX_PAGE = 1_000
SEARCH_HARD_LIMIT = 50_000
_DIGEST = re.compile(r"[\w-]{1,64}")


def _uuid_of(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(hex=value.replace("-", ""))
    except ValueError:
        raise FilterInvalid(f"{value!r} is not a run id.") from None


def _status_of(value: str) -> str:
    status = STATUSES.get(value.upper())
    if status is None:
        raise FilterInvalid(f"{value!r} is not a run status.")
    return status


def _keyed(model, column: str = "value"):
    """A condition on one key of a run's metrics, params or tags: the run has the key and
    its value satisfies the comparison (MLflow's inner-join meaning, "!=" included)."""

    def build(key: str, op: str, value) -> Q:
        rows = model.objects.filter(key=key)
        if op == "IS NULL":
            return ~Q(pk__in=rows.values("run_id"))
        if op != "IS NOT NULL":
            rows = rows.filter(compare(column, op, value))
        return Q(pk__in=rows.values("run_id"))

    return build


def _dataset_condition(key: str, op: str, value) -> Q:
    """datasets.name / digest / context. Inputs are kept as `mlgov.mlflow.dataset_input.
    <digest>.<context>` tags whose value is canonical JSON (sorted keys, ASCII), so digest
    and context are read from the key and a name equals `"name":"<JSON text>"` in it."""
    if key not in ("name", "digest", "context"):
        raise FilterInvalid("Datasets are searched by name, digest or context.")
    if op not in ("=", "!=", "IN", "NOT IN"):
        raise FilterInvalid(f"{op} is not supported for datasets.{key}.")
    values = value if isinstance(value, tuple) else (value,)
    tags = RunTag.objects.filter(key__startswith=entities.DATASET_INPUT_TAG)
    matching = Q(pk__in=[])
    for item in values:
        if key == "name":
            needle = '"name":' + json.dumps(item)
            matching |= Q(value__contains=needle)
        elif key == "digest":
            matching |= Q(key__startswith=f"{entities.DATASET_INPUT_TAG}{item}.")
        else:  # the key's last segment; digests hold no dots
            pattern = rf"^{literal_regex(entities.DATASET_INPUT_TAG)}[\w-]+\.{literal_regex(item)}$"
            matching |= Q(key__regex=pattern)
    runs_with = tags.filter(matching).values("run_id")
    return ~Q(pk__in=runs_with) if op in ("!=", "NOT IN") else Q(pk__in=runs_with)


def _latest(model, column: str = "value"):
    def expression(key: str):
        rows = model.objects.filter(run=OuterRef("pk"), key=key).values(column)[:1]
        return Subquery(rows)

    return expression


RUN_SEARCH = SearchSpec(
    name="runs",
    attributes={
        "run_id": Field("string", "uuid", convert=_uuid_of, ops=frozenset({"=", "!=", "IN",
                                                                          "NOT IN"})),
        "run_name": Field("string", "name"),
        "status": Field("string", "status", convert=_status_of),
        "user_id": Field("string", "created_by__username"),
        "lifecycle_stage": Field("string", "lifecycle_stage"),
        "start_time": Field("number", "start_time", convert=_ms_to_datetime),
        "end_time": Field("number", "end_time", convert=_ms_to_datetime),
    },
    keyed={
        "metric": ("number", _keyed(RunMetricLatest)),
        "param": ("string", _keyed(RunParam)),
        "tag": ("string", _keyed(RunTag)),
        "dataset": ("string", _dataset_condition),
    },
    aliases={"created": "start_time", "Created": "start_time", "run name": "run_name",
             "Run name": "run_name", "Run Name": "run_name", "attributes.run_name": "run_name"},
    order_paths={"start_time": "start_time", "end_time": "end_time", "run_name": "name",
                 "status": "status", "run_id": "uuid", "user_id": "created_by__username"},
    order_keyed={"metric": _latest(RunMetricLatest), "param": _latest(RunParam),
                 "tag": _latest(RunTag)},
)


def _experiment_pks(raw_ids: list[str]) -> list[int]:
    pks = []
    for raw in raw_ids:
        text = str(raw).strip()
        if text == "0":
            default = Experiment.objects.filter(name="Default").values_list("pk", flat=True)
            pks.extend(default)
        elif text.isdigit() and len(text) <= 18:
            pks.append(int(text))
        else:
            raise invalid(f"Invalid experiment id {raw!r}.")
    return pks


def runs_search(request):
    params = params_of(request)
    experiment_ids = params.strings("experiment_ids", max_items=1_000)
    view = VIEW_TYPES.get(str(params.string("run_view_type") or "ACTIVE_ONLY").upper())
    if view is None:
        raise invalid("run_view_type is ACTIVE_ONLY, DELETED_ONLY or ALL.")
    size = paging.page_size(params.raw("max_results"), default=SEARCH_MAX_PAGE,
                            maximum=SEARCH_MAX_PAGE, hard_limit=SEARCH_HARD_LIMIT)
    text = params.string("filter")
    order_by = params.strings("order_by")
    try:
        condition = filter_q(RUN_SEARCH, text)
        ordering = order_expressions(RUN_SEARCH, order_by,
                                     [F("start_time").desc(), F("pk").asc()])
    except FilterInvalid as error:
        raise invalid(str(error)) from None
    # ACTIVE_ONLY in MLflow looks at the run only; mlgov's "active" also hides the runs of
    # deleted experiments, which MLflow cannot write to either.
    runs = run_selectors.run_list(acting_user=request.user, lifecycle_stage=view)
    queryset = runs.prefetch_related(None).filter(
        experiment_id__in=_experiment_pks(experiment_ids)
    ).filter(condition)
    fingerprint = paging.query_fingerprint("runs", sorted(experiment_ids), view, text, order_by)
    offset = paging.offset_from(params.string("page_token"), fingerprint)
    page = with_run_relations(queryset.order_by(*ordering))
    rows, token = paging.slice_page(page, offset, size, fingerprint)
    body: dict = {"runs": [run_body(run) for run in rows]}
    if token:
        body["next_page_token"] = token
    return body


ROUTES = [("POST", "2.0", "runs/search", runs_search, "read")]
