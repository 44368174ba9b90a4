"""Experiment and run pages: lists, run detail with charts over steps, side-by-side
comparison of 2 to 4 runs; invisible runs are a 404."""

from __future__ import annotations

import pytest

from tests.console.conftest import html


def test_experiment_list_and_detail_show_runs_with_latest_metrics(world, page_as):
    client = page_as("victor")
    # when victor lists experiments / then he sees mia's with its three runs
    listing = html(client.get("/t/alpha/experiments/"))
    assert f'href="/t/alpha/experiments/{world.experiment.pk}/"' in listing
    # when he opens it / then each run is a row with its latest metrics and a compare box
    response = client.get(f"/t/alpha/experiments/{world.experiment.pk}/")
    assert response.status_code == 200
    body = html(response)
    assert "<title>churn-baseline · Alpha · mlgov</title>" in body
    assert body.count('name="run" value=') == 3
    assert ">accuracy<" in body
    assert ">loss<" in body


def test_run_detail_shows_params_tags_metrics_inputs_and_lazy_charts(world, page_as):
    run = world.runs[0]
    body = html(page_as("victor").get(f"/t/alpha/runs/{run.pk}/"))
    assert "max_iter" in body
    assert "team" in body
    assert "churn v1" in body  # its dataset input
    assert "churn-classifier v1" in body  # the version made from it
    assert f'hx-get="/t/alpha/runs/{run.pk}/chart/?key=loss' in body


def test_run_chart_is_an_inline_svg_of_the_history(world, page_as):
    run = world.runs[0]
    response = page_as("victor").get(f"/t/alpha/runs/{run.pk}/chart/?key=loss")
    assert response.status_code == 200
    body = html(response)
    assert "<svg" in body
    assert "<polyline" in body
    # 30 points, one per step
    points = body.split('points="')[1].split('"')[0].split()
    assert len(points) == 30


def test_run_chart_of_an_unknown_key_says_nothing_was_logged(world, page_as):
    run = world.runs[0]
    body = html(page_as("victor").get(f"/t/alpha/runs/{run.pk}/chart/?key=nope"))
    assert "No finite values were logged" in body


def test_compare_puts_runs_side_by_side_and_marks_differences(world, page_as):
    first, second = world.runs[0], world.runs[1]
    response = page_as("victor").get(f"/t/alpha/runs/compare/?run={first.pk}&run={second.pk}")
    assert response.status_code == 200
    body = html(response)
    # C differs, penalty is the same
    c_row = body.split('<th scope="row" class="mono">C')[0].rsplit("<tr", 1)[1]
    penalty_row = body.split('<th scope="row" class="mono">penalty')[0].rsplit("<tr", 1)[1]
    assert 'class="differs"' in c_row
    assert 'class="differs"' not in penalty_row
    assert "/t/alpha/runs/compare/chart/?run=" in body


def test_compare_chart_draws_one_series_per_run(world, page_as):
    first, second = world.runs[0], world.runs[1]
    body = html(
        page_as("victor").get(
            f"/t/alpha/runs/compare/chart/?run={first.pk}&run={second.pk}&key=accuracy"
        )
    )
    assert body.count("<polyline") == 2


@pytest.mark.parametrize("count", [0, 1, 5])
def test_compare_needs_two_to_four_runs(world, page_as, count):
    ids = "&".join(f"run={run.pk}" for run in (world.runs * 2)[:count])
    if count == 5:
        ids = "&".join(f"run={pk}" for pk in range(1, 6))
    response = page_as("victor").get(f"/t/alpha/runs/compare/?{ids}")
    assert response.status_code == (200 if count == 0 else 400)
    assert "Select 2 to 4 runs" in html(response)


def test_runs_of_invisible_experiments_are_404(world, page_as):
    client = page_as("bob")
    run = world.runs[0]
    for path in (f"experiments/{world.experiment.pk}/", f"runs/{run.pk}/",
                 f"runs/{run.pk}/chart/?key=loss",
                 f"runs/compare/?run={run.pk}&run={world.runs[1].pk}",
                 f"runs/compare/chart/?run={run.pk}&run={world.runs[1].pk}&key=loss"):
        assert client.get(f"/t/alpha/{path}").status_code == 404, path


def test_experiment_list_filters_deleted_ones(world, page_as):
    body = html(page_as("victor").get("/t/alpha/experiments/?show=deleted"))
    assert "No experiment matches" in body
