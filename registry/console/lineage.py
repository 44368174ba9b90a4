"""The lineage page: the graph around one dataset version, run or model version, as far as the
user may see it (registry/selectors/lineage.py), drawn by mlgov/static/mlgov/lineage.js from
the nodes and edges embedded in the page. Clicking a node opens its page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from registry.selectors import lineage as selectors
from registry.selectors.activity import dataset_version_recent
from registry.selectors.models import model_version_list

NODE_KINDS = {
    "dataset_version": _("Dataset version"),
    "run": _("Run"),
    "model_version": _("Model version"),
}
DIRECTION_LABELS = {"both": _("Inputs and outputs"), "up": _("Inputs"), "down": _("Outputs")}
PICKER_SIZE = 10


def _node_url(node: dict) -> str:
    node_id = node["id"].split(":", 1)[1]
    if node["type"] == "dataset_version":
        return reverse("console-dataset-version", args=[node["dataset"], node["version"]])
    if node["type"] == "run":
        return reverse("console-run", args=[int(node_id)])
    return reverse("console-model-version", args=[node["model"], node["version"]])


# The same words as templates/registry/_run_status.html and _stage_badge.html.
RUN_STATUS_LABELS = {
    "finished": _("finished"), "running": _("running"), "scheduled": _("scheduled"),
    "failed": _("failed"), "killed": _("killed"),
}
STAGE_LABELS = {
    "production": _("Production"), "staging": _("Staging"), "archived": _("Archived"),
    "none": _("no stage"),
}


def _detail(node: dict) -> str:
    """The run's status or the version's stage, in the user's language."""
    if node["type"] == "run":
        status = str(node.get("status", ""))
        return str(RUN_STATUS_LABELS.get(status, status))
    if node["type"] == "model_version":
        stage = str(node.get("stage", ""))
        return str(STAGE_LABELS.get(stage, stage))
    return ""


def _picker(request: HttpRequest) -> dict:
    """Recent model and dataset versions to start from when no node is named."""
    models = model_version_list(acting_user=request.user).order_by("-created_at")[:PICKER_SIZE]
    datasets = dataset_version_recent(acting_user=request.user, limit=PICKER_SIZE)
    return {"model_versions": list(models), "dataset_versions": list(datasets)}


@login_required
@require_GET
def lineage_page(request: HttpRequest) -> HttpResponse:
    node_text = request.GET.get("node", "").strip()[:100]
    direction = request.GET.get("direction", "both")
    if direction not in selectors.DIRECTIONS:
        direction = "both"
    depth_text = request.GET.get("depth", "")
    depth = int(depth_text) if depth_text.isdigit() and len(depth_text) < 3 else 3
    depth = min(max(depth, 1), selectors.MAX_DEPTH)
    context: dict = {
        "section": "lineage",
        "direction": direction,
        "depth": depth,
        "directions": DIRECTION_LABELS.items(),
        "depths": range(1, selectors.MAX_DEPTH + 1),
        "node": node_text,
    }
    if not node_text:
        context.update(_picker(request))
        return render(request, "registry/lineage.html", context)
    node_type, _sep, node_id = node_text.partition(":")
    if node_type not in NODE_KINDS:
        raise Http404
    try:
        start = selectors.lineage_node_resolve(
            acting_user=request.user, node_type=node_type, node_id=node_id
        )
        graph = selectors.lineage_graph(
            acting_user=request.user, start=start, direction=direction, depth=depth
        )
    except selectors.LineageNodeNotFound:
        raise Http404 from None
    start_id = f"{start[0]}:{start[1]}"
    nodes = [
        {
            "id": node["id"],
            "type": node["type"],
            "label": node["label"],
            "detail": _detail(node),
            "url": _node_url(node),
            "start": node["id"] == start_id,
        }
        for node in graph.nodes
    ]
    by_id = {node["id"]: node for node in nodes}
    context.update(
        {
            "start": by_id.get(start_id),
            "graph": {
                "nodes": nodes,
                "edges": graph.edges,
                "kinds": {key: str(label) for key, label in NODE_KINDS.items()},
            },
            "edges": [
                {"source": by_id[edge["source"]], "target": by_id[edge["target"]],
                 "relation": edge["relation"]}
                for edge in graph.edges
            ],
        }
    )
    return render(request, "registry/lineage.html", context)

