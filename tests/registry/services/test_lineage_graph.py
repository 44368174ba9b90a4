"""Lineage walks: up, down, both, depth, invisible nodes hidden, one edge query per level.

The graph (dataset version -> run -> model version):

    dv1 -> run1 -> mv1 -> deployment:7 (no visibility rule yet: hidden)
    dv1 -> run2 -> mv2
    dv2 -> run2
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from guardian.shortcuts import assign_perm

from registry.artifact_store import artifact_write
from registry.models import Dataset, DatasetVersion
from registry.selectors.lineage import (
    LineageNodeNotFound,
    lineage_graph,
    lineage_node_resolve,
)
from tests.conftest import user_in
from tests.registry.model_world import edge, make_experiment, make_model, make_run, make_version


def _dataset_version(user, dataset: Dataset, number: int) -> DatasetVersion:
    artifact = artifact_write(kind="dataset", source=[b"a,b\n1,2\n"], acting_user=user)
    return DatasetVersion.objects.create(
        dataset=dataset, version=number, artifact=artifact, file_format="csv", row_count=1
    )


@pytest.fixture()
def graph(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        dataset = Dataset.objects.create(name="customers", created_by=alice)
        dv1, dv2 = _dataset_version(alice, dataset, 1), _dataset_version(alice, dataset, 2)
        public_exp, secret_exp = make_experiment(alice, "public"), make_experiment(alice, "secret")
        run1, run2 = make_run(secret_exp, alice, "run1"), make_run(public_exp, alice, "run2")
        model = make_model(alice, "churn")
        mv1, mv2 = make_version(model), make_version(model)
        edge(("dataset_version", dv1.pk), ("run", run1.pk), "input")
        edge(("dataset_version", dv1.pk), ("run", run2.pk), "input")
        edge(("dataset_version", dv2.pk), ("run", run2.pk), "input")
        edge(("run", run1.pk), ("model_version", mv1.pk), "produced")
        edge(("run", run2.pk), ("model_version", mv2.pk), "produced")
        edge(("model_version", mv1.pk), ("deployment", 7), "deployed")
        ids = {
            "dv1": f"dataset_version:{dv1.pk}",
            "dv2": f"dataset_version:{dv2.pk}",
            "run1": f"run:{run1.pk}",
            "run2": f"run:{run2.pk}",
            "mv1": f"model_version:{mv1.pk}",
            "mv2": f"model_version:{mv2.pk}",
        }
        yield {
            "alice": alice,
            "ids": ids,
            "names": {v: k for k, v in ids.items()},
            "dataset": dataset,
            "model": model,
            "public": public_exp,
            "run1": run1,
        }


def _walk(world, user, start, direction="both", depth=3):
    node_type, node_id = world["ids"][start].split(":")
    node = lineage_node_resolve(acting_user=user, node_type=node_type, node_id=node_id)
    result = lineage_graph(acting_user=user, start=node, direction=direction, depth=depth)
    names = world["names"]
    nodes = {names[n["id"]] for n in result.nodes}
    edges = {(names[e["source"]], names[e["target"]], e["relation"]) for e in result.edges}
    return nodes, edges, result


def test_down_from_a_dataset_version_follows_depth(graph):
    alice = graph["alice"]
    nodes, edges, _ = _walk(graph, alice, "dv1", "down", depth=1)
    assert nodes == {"dv1", "run1", "run2"}
    assert edges == {("dv1", "run1", "input"), ("dv1", "run2", "input")}
    nodes, edges, _ = _walk(graph, alice, "dv1", "down", depth=2)
    assert nodes == {"dv1", "run1", "run2", "mv1", "mv2"}
    assert ("run2", "mv2", "produced") in edges
    assert len(edges) == 4


def test_up_from_a_model_version(graph):
    nodes, edges, result = _walk(graph, graph["alice"], "mv2", "up", depth=3)
    assert nodes == {"mv2", "run2", "dv1", "dv2"}
    assert edges == {
        ("run2", "mv2", "produced"),
        ("dv1", "run2", "input"),
        ("dv2", "run2", "input"),
    }
    by_id = {n["id"]: n for n in result.nodes}
    assert by_id[graph["ids"]["mv2"]]["label"] == "churn v2"
    assert by_id[graph["ids"]["dv1"]]["label"] == "customers v1"
    assert by_id[graph["ids"]["run2"]]["type"] == "run"


def test_both_walks_ancestors_and_descendants_but_not_siblings(graph):
    nodes, _, _ = _walk(graph, graph["alice"], "run2", "both", depth=1)
    assert nodes == {"run2", "dv1", "dv2", "mv2"}
    # deeper, the hidden deployment node never appears
    nodes, edges, _ = _walk(graph, graph["alice"], "run1", "both", depth=5)
    assert nodes == {"run1", "dv1", "mv1"}
    assert all("deployment" not in e for e in edges)


def test_invisible_nodes_are_omitted_with_their_edges_and_not_walked_through(graph, alpha):
    # given bob may see the model and the dataset, and only the public experiment
    bob = user_in(alpha, "bob")
    for obj in (graph["model"], graph["dataset"], graph["public"]):
        assign_perm(f"view_{obj._meta.model_name}", bob, obj)
    # when he walks up from mv1, whose run is in the secret experiment
    nodes, edges, _ = _walk(graph, bob, "mv1", "up", depth=5)
    # then neither run1 nor what lies behind it is shown
    assert nodes == {"mv1"}
    assert edges == set()
    # and from dv1 down he sees run2's branch only
    nodes, _, _ = _walk(graph, bob, "dv1", "down", depth=5)
    assert nodes == {"dv1", "run2", "mv2"}
    # and a start node he may not see is "not found"
    with pytest.raises(LineageNodeNotFound):
        lineage_node_resolve(acting_user=bob, node_type="run", node_id=str(graph["run1"].pk))


def test_unknown_nodes_are_not_found_and_runs_resolve_by_uuid(graph):
    alice = graph["alice"]
    for node_type, node_id in (
        ("model_version", "999999"),
        ("run", "not-a-uuid"),
        ("report", "1"),
        ("run", "0" * 32),
    ):
        with pytest.raises(LineageNodeNotFound):
            lineage_node_resolve(acting_user=alice, node_type=node_type, node_id=node_id)
    run1 = graph["run1"]
    assert lineage_node_resolve(acting_user=alice, node_type="run", node_id=run1.uuid.hex) == (
        "run",
        str(run1.pk),
    )


def test_one_edge_query_per_level_whatever_the_width(graph, alpha):
    # given a wide fan-out: 30 more runs fed by dv2, each producing a model version
    alice = graph["alice"]
    dv2 = int(graph["ids"]["dv2"].split(":")[1])

    def edge_queries(start):
        node_type, node_id = graph["ids"][start].split(":")
        with CaptureQueriesContext(connection) as captured:
            lineage_graph(acting_user=alice, start=(node_type, node_id), direction="down", depth=3)
        return sum('"registry_lineageedge"' in q["sql"] for q in captured.captured_queries)

    narrow = edge_queries("dv2")
    for index in range(30):
        run = make_run(graph["public"], alice, f"wide{index}")
        edge(("dataset_version", dv2), ("run", run.pk), "input")
        edge(("run", run.pk), ("model_version", make_version(graph["model"]).pk), "produced")
    # then the walk still costs one edge query per level
    assert edge_queries("dv2") == narrow <= 3
