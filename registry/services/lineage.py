"""Lineage edges: dataset_version -> run -> model_version (deployments and reports later).

A node is `<type>:<id>` where the id is the object's primary key as text (a run's too, not
its UUID), so every writer links the same node. Edges are written by the service that
makes the relation (registration, a run consuming a dataset), inside its transaction; that
service's audit event covers the edge.
"""

from __future__ import annotations

from registry.models import LineageEdge

NODE_TYPES = frozenset(LineageEdge.NodeType.values)


def lineage_edge_add(
    *, source: tuple[str, int | str], target: tuple[str, int | str], relation: str
) -> LineageEdge:
    """Record `source -relation-> target` once (idempotent); run inside the caller's
    transaction."""
    for node_type, _ in (source, target):
        if node_type not in NODE_TYPES:
            raise ValueError(f"unknown lineage node type {node_type!r}")
    edge, _ = LineageEdge.objects.get_or_create(
        source_type=source[0],
        source_id=str(source[1]),
        target_type=target[0],
        target_id=str(target[1]),
        relation=relation,
    )
    return edge
