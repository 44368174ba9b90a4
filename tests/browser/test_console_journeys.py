"""The console in a real browser, one journey per role (issue 6): what each role sees, what
it may do, what it is never offered; the lineage graph and charts drawn; German; another
tenant's path shows nothing. Each journey saves screenshots of the pages it walks."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_maintainer_walks_the_registry_and_creates_a_token_shown_once(signed_in, live_console):
    world = live_console.world
    page = signed_in("maint")
    # the dashboard: figures, recent runs and versions, the promotion
    assert page.title() == f"Dashboard · {live_console.tenant_a.name} · mlgov"
    assert page.get_by_test_id("role").inner_text().lower() == "maintainer"
    page.get_by_text("Approved in review.").wait_for()
    screenshot(page, "dashboard")
    # datasets: the list, then the schema with its sensitive and PII columns
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Datasets").click()
    page.get_by_role("link", name="churn", exact=True).click()
    assert page.locator(".badge", has_text="PII").first.is_visible()
    assert page.get_by_role("link", name="Download").is_visible()
    screenshot(page, "dataset")
    # experiments: tick two runs and compare them side by side
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    screenshot(page, "experiments")
    page.get_by_role("link", name="churn-baseline").click()
    compare = page.get_by_role("button", name="Compare selected")
    assert compare.is_disabled()  # fewer than two ticked
    page.get_by_label("Compare logreg-C0.1").check()
    page.get_by_label("Compare logreg-C1.0").check()
    assert compare.is_enabled()
    compare.click()
    page.wait_for_url(re.compile(r"/runs/compare/\?run="))
    page.locator(".charts").scroll_into_view_if_needed()  # charts load as they come into view
    page.locator(".chart svg polyline").first.wait_for()
    assert page.locator("tr.differs").count() >= 2  # C and max_iter differ
    screenshot(page, "run-compare")
    # a run: params and the metric charts drawn as SVG
    page.goto(live_console.url(live_console.tenant_a, f"runs/{world.runs[0].pk}/"))
    page.locator(".charts").scroll_into_view_if_needed()
    page.locator(".chart svg polyline").nth(1).wait_for()
    screenshot(page, "run")
    # models: the version page with its card, and the lineage graph
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    screenshot(page, "models")
    page.get_by_role("link", name="churn-classifier").click()
    page.get_by_role("link", name="v1", exact=True).click()
    assert page.get_by_role("link", name="Edit model card").first.is_visible()
    assert page.get_by_role("link", name="Download model").is_visible()
    screenshot(page, "model-version")
    page.get_by_role("link", name="Lineage", exact=True).nth(1).click()
    node = page.locator(f'.graph-node[data-node="run:{world.runs[0].pk}"]')
    node.wait_for()
    assert page.locator(".graph-node").count() == 3
    screenshot(page, "lineage")
    node.click()  # a node is a link to its page
    page.wait_for_url(re.compile(rf"/runs/{world.runs[0].pk}/$"))
    # an API token: shown once after it is made, never again
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members & tokens").click()
    page.get_by_label("Name", exact=True).fill("notebook")
    page.get_by_label("Scope").select_option("write")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").locator("code").inner_text()
    assert re.fullmatch(r"mlg_[a-z0-9]{10}_\S+", token)
    screenshot(page, "tokens")
    page.goto(page.url)  # opened again (not re-posted): the token is gone
    assert page.get_by_test_id("new-token").count() == 0
    assert token not in page.content()
    assert page.get_by_role("cell", name="notebook").is_visible()


def test_reviewer_reads_a_version_and_its_history_without_edit_actions(signed_in, live_console):
    world = live_console.world
    page = signed_in("rev")
    page.goto(live_console.url(live_console.tenant_a, f"models/{world.model.pk}/versions/1/"))
    history = page.get_by_test_id("history")
    assert "Offline metrics pass." in history.inner_text()
    assert "Approved in review." in history.inner_text()
    assert "Rank customers for retention offers." in page.get_by_test_id("model-card").inner_text()
    assert page.get_by_test_id("verified").inner_text() == "verified and signed"
    assert page.get_by_role("link", name="Edit model card").count() == 0
    assert page.get_by_role("link", name="Download model").count() == 0
    # the audit section is not offered to reviewers, and its page does not exist for them
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Audit").count() == 0
    response = page.goto(live_console.url(live_console.tenant_a, "audit/"))
    assert response.status == 404


def test_auditor_verifies_the_chain_and_downloads_the_csv_export(signed_in, live_console):
    page = signed_in("aud")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    page.get_by_test_id("verify").click()
    result = page.get_by_test_id("verify-result")
    result.wait_for()
    assert "The chain is intact." in result.inner_text()
    screenshot(page, "audit")
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0][:2] == ["sequence", "occurred_at"]
    assert any(row[4] == "model_card.update" for row in rows[1:])


def test_viewer_is_not_offered_edit_or_download_actions(signed_in, live_console):
    world = live_console.world
    tenant = live_console.tenant_a
    page = signed_in("view")
    page.goto(live_console.url(tenant, f"datasets/{world.dataset.pk}/versions/1/"))
    assert page.get_by_role("heading", name="Schema").is_visible()
    assert page.get_by_role("link", name="Download").count() == 0
    page.goto(live_console.url(tenant, f"models/{world.model.pk}/versions/1/"))
    assert page.get_by_role("link", name=re.compile("Edit|Download")).count() == 0
    # and typing the URLs gets nothing either
    version = f"models/{world.model.pk}/versions/1/"
    assert page.goto(live_console.url(tenant, version + "card/")).status == 403
    assert page.goto(live_console.url(tenant, version + "download/")).status == 403
    screenshot(page, "not-allowed")


def test_a_user_of_one_tenant_gets_nothing_under_another_tenants_path(signed_in, live_console):
    world = live_console.world
    page = signed_in("owner", tenant=live_console.tenant_b)
    # alpha's pages under alpha's path: the sign-in form of that tenant, no data
    page.goto(live_console.url(live_console.tenant_a, f"datasets/{world.dataset.pk}/"))
    assert "/login/" in page.url
    assert "churn" not in page.content()
    # alpha's ids under beta's own path: nothing there
    response = page.goto(live_console.url(live_console.tenant_b, f"datasets/{world.dataset.pk}/"))
    assert response.status == 404
    # and the beta session is still signed in (its cookie belongs to /t/<beta>/ only)
    page.goto(live_console.url(live_console.tenant_b, ""))
    assert page.get_by_test_id("username").inner_text() == "owner"


def test_switching_to_german_shows_german_text(signed_in, live_console):
    page = signed_in("owner")
    page.get_by_role("button", name="DE", exact=True).click()
    page.get_by_role("navigation", name="Hauptnavigation").wait_for()
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    assert nav.get_by_role("link", name="Übersicht").is_visible()
    assert nav.get_by_role("link", name="Datensätze").is_visible()
    assert page.locator("html").get_attribute("lang") == "de"
    screenshot(page, "dashboard-de")
    nav.get_by_role("link", name="Mitglieder & Tokens").click()
    assert page.get_by_role("heading", name="Mitglieder und Rollen").is_visible()
    screenshot(page, "members-de")
    # a phone-sized window: the navigation scrolls sideways, tables scroll in their cards
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "members-de-narrow")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.get_by_role("button", name="EN", exact=True).click()
    main_nav = page.get_by_role("navigation", name="Main")
    assert main_nav.get_by_role("link", name="Members & tokens").is_visible()
