"""`GET lineage/`: the graph as JSON, malformed queries 400, unknown or hidden nodes 404."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tests.conftest import user_in
from tests.registry.model_world import edge, make_experiment, make_model, make_run, make_version


@pytest.fixture()
def chain(alpha):
    """run -> mv1 of alice's model."""
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        run = make_run(make_experiment(alice), alice, "train")
        version = make_version(make_model(alice, "churn"))
        edge(("run", run.pk), ("model_version", version.pk), "produced")
        return run, version


def test_graph_as_json(alpha, api_as, chain):
    run, version = chain
    response = api_as(alpha, "victor", scope="read").get(
        f"api/v1/lineage/?node=model_version:{version.pk}&direction=up&depth=2"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {(n["id"], n["type"], n["label"]) for n in body["nodes"]} == {
        (f"model_version:{version.pk}", "model_version", "churn v1"),
        (f"run:{run.pk}", "run", "train"),
    }
    assert body["edges"] == [
        {"source": f"run:{run.pk}", "target": f"model_version:{version.pk}", "relation": "produced"}
    ]
    # defaults: both directions, depth 3; a run may be named by its UUID
    by_uuid = api_as(alpha, "alice").get(f"api/v1/lineage/?node=run:{run.uuid}")
    assert len(by_uuid.json()["nodes"]) == 2


@pytest.mark.parametrize(
    "query",
    [
        "",
        "node=",
        "node=model_version",
        "node=:1",
        "node=bogus:1",
        "node=run:1:2",
        "node=run:%00",
        "node=run:1&direction=sideways",
        "node=run:1&depth=0",
        "node=run:1&depth=11",
        "node=run:1&depth=abc",
        "node=" + "a" * 200,
    ],
)
def test_malformed_queries_are_400(alpha, api_as, chain, query):
    response = api_as(alpha, "alice").get(f"api/v1/lineage/?{query}")
    assert response.status_code == 400, query
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "node",
    [
        "model_version:999999",
        "run:999999",
        "dataset_version:1",
        "report:1",
        "run:00000000000000000000000000000000",
        "model_version:99999999999999999999",
    ],
)
def test_unknown_nodes_are_404(alpha, api_as, chain, node):
    response = api_as(alpha, "alice").get(f"api/v1/lineage/?node={node}")
    assert response.status_code in (400, 404), node
    if response.status_code == 400:  # an id too long for the pattern is malformed
        assert len(node.split(":")[1]) > 18


def test_who_may_ask(alpha, beta, api_as, chain):
    _, version = chain
    path = f"api/v1/lineage/?node=model_version:{version.pk}"
    # bob sees none of it: the node is "not found" for him
    assert api_as(alpha, "bob").get(path).status_code == 404
    assert api_as(alpha, None).get(path).status_code == 401
    assert api_as(alpha, "carol", token_tenant=beta).get(path).status_code == 401
    assert api_as(alpha, "alice", path_tenant=beta).get(path).status_code == 401
    assert api_as(beta, "carol").get(path).status_code == 404
    # it is read-only
    assert api_as(alpha, "alice").post("api/v1/lineage/", {}).status_code in (403, 405)
    assert api_as(alpha, "alice", scope="read").post("api/v1/lineage/", {}).status_code == 403
