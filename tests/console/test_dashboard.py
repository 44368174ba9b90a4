"""The dashboard: figures, recent runs and versions, stage changes; restricted to the user."""

from __future__ import annotations

from tests.console.conftest import html


def test_dashboard_shows_counts_runs_versions_and_stage_changes(world, page_as):
    # given mia's world / when alice (owner) opens the dashboard
    response = page_as("alice").get("/t/alpha/")
    # then it shows the figures, the runs, the versions and the promotion
    assert response.status_code == 200
    body = html(response)
    assert "<title>Dashboard · Alpha · mlgov</title>" in body
    assert 'data-testid="count-datasets"' in body
    assert "logreg-C0.1" in body
    assert "churn-classifier v1" in body
    assert "Approved in review." in body
    assert 'data-testid="role">Owner<' in body


def test_dashboard_of_a_member_without_role_shows_nothing_of_the_registry(world, page_as):
    # given bob, a member without a role / when he opens the dashboard
    body = html(page_as("bob").get("/t/alpha/"))
    # then no object appears, and he is told what to do next
    assert "logreg-C0.1" not in body
    assert "churn-classifier" not in body
    assert "ask an owner of this workspace to give you one" in body


def test_dashboard_needs_a_sign_in(alpha, client):
    # given an anonymous visitor / when they open the dashboard / then they are sent to sign in
    response = client.get("/t/alpha/")
    assert response.status_code == 302
    assert response["Location"].startswith("/t/alpha/login/")
