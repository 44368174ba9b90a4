"""The lineage graph around one node, as far as the acting user may see it.

A breadth-first walk over LineageEdge: one edge query per depth level (whatever the number
of nodes in the frontier), then one visibility query per node type met at that level. A
node the user may not see is left out with its edges, and the walk does not pass through
it, so a hidden run never reveals which dataset fed which model.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from mlgov.api.viewsets import restrict
from registry.models import (
    Dataset,
    DatasetVersion,
    Experiment,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
    Run,
)

Node = tuple[str, str]  # (type, id as text)
DIRECTIONS = ("up", "down", "both")
MAX_DEPTH = 10
DEFAULT_DEPTH = 3
_PK = re.compile(r"[0-9]{1,18}")


class LineageNodeNotFound(Exception):
    """The start node does not exist or the user may not see it (both are a 404)."""

    code = "not_found"


@dataclass
class LineageGraph:
    nodes: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)


def _node_label(node_type: str, obj) -> dict:
    if node_type == "dataset_version":
        return {
            "label": f"{obj.dataset.name} v{obj.version}",
            "dataset": obj.dataset_id,
            "version": obj.version,
        }
    if node_type == "run":
        return {
            "label": obj.name or obj.uuid.hex,
            "experiment": obj.experiment_id,
            "run_uuid": obj.uuid.hex,
            "status": obj.status,
        }
    return {
        "label": f"{obj.registered_model.name} v{obj.version}",
        "model": obj.registered_model_id,
        "version": obj.version,
        "stage": obj.stage,
        "verified": obj.verified,
    }


def _visible(acting_user: User, node_type: str, ids: Iterable[str]) -> dict[str, object]:
    """id -> object, for the ids of `node_type` that exist and the user may see."""
    pks = [int(value) for value in ids if _PK.fullmatch(value)]
    if not pks:
        return {}
    rows: QuerySet
    if node_type == "dataset_version":
        rows = DatasetVersion.objects.filter(
            pk__in=pks, dataset__in=restrict(Dataset.objects.all(), acting_user, "view")
        ).select_related("dataset")
    elif node_type == "run":
        rows = Run.objects.filter(
            pk__in=pks, experiment__in=restrict(Experiment.objects.all(), acting_user, "view")
        )
    elif node_type == "model_version":
        rows = ModelVersion.objects.filter(
            pk__in=pks,
            registered_model__in=restrict(RegisteredModel.objects.all(), acting_user, "view"),
        ).select_related("registered_model")
    else:
        # Reports, attestations and deployments have no visibility rule yet: hidden.
        return {}
    return {str(row.pk): row for row in rows}


def lineage_node_resolve(*, acting_user: User, node_type: str, node_id: str) -> Node:
    """The canonical node for a visible object (a run may be named by its UUID too)."""
    node_id = node_id.strip()
    if node_type == "run" and not _PK.fullmatch(node_id):
        try:
            run_uuid = uuid.UUID(node_id)
        except ValueError:
            raise LineageNodeNotFound("No such node.") from None
        run = Run.objects.filter(uuid=run_uuid).values_list("pk", flat=True).first()
        node_id = str(run) if run is not None else ""
    if node_id not in _visible(acting_user, node_type, [node_id]):
        raise LineageNodeNotFound("No such node.")
    return (node_type, node_id)


def _endpoint_q(prefix: str, nodes: set[Node]) -> Q:
    by_type: dict[str, list[str]] = {}
    for node_type, node_id in nodes:
        by_type.setdefault(node_type, []).append(node_id)
    return reduce(
        or_,
        (
            Q(**{f"{prefix}_type": node_type, f"{prefix}_id__in": ids})
            for node_type, ids in by_type.items()
        ),
    )


def lineage_graph(
    *, acting_user: User, start: Node, direction: str = "both", depth: int = DEFAULT_DEPTH
) -> LineageGraph:
    """Nodes and edges within `depth` steps of `start` (up: towards inputs, down: towards
    outputs, both: each), restricted to what the user may see."""
    if direction not in DIRECTIONS or not 1 <= depth <= MAX_DEPTH:
        raise ValueError("direction must be up, down or both, and depth 1..10")
    objects: dict[Node, object] = dict(
        ((start[0], key), obj) for key, obj in _visible(acting_user, start[0], [start[1]]).items()
    )
    if start not in objects:
        raise LineageNodeNotFound("No such node.")
    up = {start} if direction in ("up", "both") else set()
    down = {start} if direction in ("down", "both") else set()
    visited_up, visited_down = set(up), set(down)
    edges: dict[tuple[Node, Node, str], dict] = {}
    for _level in range(depth):
        if not up and not down:
            break
        clauses = [_endpoint_q("target", up)] if up else []
        if down:
            clauses.append(_endpoint_q("source", down))
        found = [
            ((source_type, source_id), (target_type, target_id), relation)
            for source_type, source_id, target_type, target_id, relation in (
                LineageEdge.objects.filter(reduce(or_, clauses)).values_list(
                    "source_type", "source_id", "target_type", "target_id", "relation"
                )
            )
        ]
        candidates: dict[str, set[str]] = {}
        for source, target, _relation in found:
            for node in (source, target):
                if node not in objects:
                    candidates.setdefault(node[0], set()).add(node[1])
        for node_type, ids in candidates.items():
            for key, obj in _visible(acting_user, node_type, ids).items():
                objects[(node_type, key)] = obj
        next_up: set[Node] = set()
        next_down: set[Node] = set()
        for source, target, relation in found:
            if source not in objects or target not in objects:
                continue  # an invisible (or deleted) end: the edge is left out too
            edges[(source, target, relation)] = {
                "source": f"{source[0]}:{source[1]}",
                "target": f"{target[0]}:{target[1]}",
                "relation": relation,
            }
            if target in up:
                next_up.add(source)
            if source in down:
                next_down.add(target)
        up, down = next_up - visited_up, next_down - visited_down
        visited_up |= up
        visited_down |= down
    reached = {start}
    for source, target, _relation in edges:
        reached.update((source, target))
    nodes = [
        {
            "id": f"{node_type}:{node_id}",
            "type": node_type,
            **_node_label(node_type, objects[(node_type, node_id)]),
        }
        for node_type, node_id in sorted(reached)
    ]
    return LineageGraph(nodes=nodes, edges=list(edges.values()))
