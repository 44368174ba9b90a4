"""`GET lineage/?node=<type>:<id>&direction=up|down|both&depth=N`: the graph around a node.

Any member may ask; the answer holds only what they may see, and a start node they may
not see is a 404 like one that does not exist.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from mlgov.api.viewsets import TenantGenericViewSet
from registry.selectors.lineage import (
    DEFAULT_DEPTH,
    DIRECTIONS,
    MAX_DEPTH,
    LineageNodeNotFound,
    lineage_graph,
    lineage_node_resolve,
)
from registry.services.lineage import NODE_TYPES


class LineageQueryInput(serializers.Serializer):
    node = serializers.RegexField(
        r"^[a-z_]{1,30}:[A-Za-z0-9-]{1,64}$",
        max_length=100,
        error_messages={"invalid": "node is <type>:<id>, e.g. model_version:12."},
    )
    direction = serializers.ChoiceField(choices=DIRECTIONS, default="both")
    depth = serializers.IntegerField(min_value=1, max_value=MAX_DEPTH, default=DEFAULT_DEPTH)

    def validate_node(self, value: str) -> tuple[str, str]:
        node_type, node_id = value.split(":", 1)
        if node_type not in NODE_TYPES:
            raise serializers.ValidationError(
                f"Unknown node type {node_type!r}; known: {sorted(NODE_TYPES)}."
            )
        return node_type, node_id


class LineageNodeOutput(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    label = serializers.CharField()


class LineageEdgeOutput(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    relation = serializers.CharField()


class LineageOutput(serializers.Serializer):
    nodes = LineageNodeOutput(many=True)
    edges = LineageEdgeOutput(many=True)


class LineageViewSet(TenantGenericViewSet):
    """The lineage graph (dataset versions, runs, model versions) around one node."""

    serializer_class = LineageOutput
    pagination_class = None  # one bounded graph (depth <= 10), not a list of rows
    filter_backends: list = []
    permissions_required = {"list": None}  # visibility is applied node by node

    @extend_schema(
        parameters=[
            OpenApiParameter("node", str, required=True, description="<type>:<id>"),
            OpenApiParameter("direction", str, enum=list(DIRECTIONS)),
            OpenApiParameter("depth", int, description=f"1..{MAX_DEPTH}"),
        ],
        responses=LineageOutput,
    )
    def list(self, request, **kwargs):
        data = LineageQueryInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        node_type, node_id = data.validated_data["node"]
        try:
            start = lineage_node_resolve(
                acting_user=request.user, node_type=node_type, node_id=node_id
            )
            graph = lineage_graph(
                acting_user=request.user,
                start=start,
                direction=data.validated_data["direction"],
                depth=data.validated_data["depth"],
            )
        except LineageNodeNotFound:
            raise Http404 from None
        return Response({"nodes": graph.nodes, "edges": graph.edges})
