"""The lineage page: a picker without a node, the graph (nodes with the URLs they open, and
edges) around a visible node, 404 for a node the user may not see."""

from __future__ import annotations

import json
import re

from tests.console.conftest import html


def _graph(body: str) -> dict:
    match = re.search(r'<script id="lineage-data" type="application/json">(.*?)</script>', body,
                      re.S)
    assert match, "the page embeds no graph"
    return json.loads(match[1])


def test_picker_lists_versions_to_start_from(world, page_as):
    body = html(page_as("victor").get("/t/alpha/lineage/"))
    assert f"?node=model_version:{world.version.pk}" in body
    assert f"?node=dataset_version:{world.dataset_version.pk}" in body


def test_graph_of_a_model_version_links_its_run_and_dataset(world, page_as):
    url = f"/t/alpha/lineage/?node=model_version:{world.version.pk}&direction=up&depth=3"
    response = page_as("victor").get(url)
    assert response.status_code == 200
    body = html(response)
    assert "/static/mlgov/lineage.js" in body
    graph = _graph(body)
    urls = {node["id"]: node["url"] for node in graph["nodes"]}
    assert urls[f"model_version:{world.version.pk}"] == (
        f"/t/alpha/models/{world.model.pk}/versions/1/"
    )
    assert urls[f"run:{world.runs[0].pk}"] == f"/t/alpha/runs/{world.runs[0].pk}/"
    assert urls[f"dataset_version:{world.dataset_version.pk}"] == (
        f"/t/alpha/datasets/{world.dataset.pk}/versions/1/"
    )
    assert {(edge["source"], edge["target"]) for edge in graph["edges"]} == {
        (f"dataset_version:{world.dataset_version.pk}", f"run:{world.runs[0].pk}"),
        (f"run:{world.runs[0].pk}", f"model_version:{world.version.pk}"),
    }
    assert [node["start"] for node in graph["nodes"]].count(True) == 1


def test_graph_of_a_run_by_uuid_and_bad_parameters_fall_back(world, page_as):
    run = world.runs[0]
    body = html(page_as("victor").get(
        f"/t/alpha/lineage/?node=run:{run.uuid.hex}&direction=sideways&depth=99"))
    assert f"run:{run.pk}" in body


def test_invisible_or_unknown_nodes_are_404(world, page_as):
    client = page_as("bob")
    for node in (f"model_version:{world.version.pk}", "run:abc", "deployment:1", "nonsense",
                 f"dataset_version:{world.dataset_version.pk}"):
        assert client.get(f"/t/alpha/lineage/?node={node}").status_code == 404, node
    assert "Nothing to trace yet" in html(client.get("/t/alpha/lineage/"))
