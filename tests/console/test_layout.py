"""The frame every console page shares: titles, the header (tenant, role), a navigation that
offers only what the role may open, the language switch, localised dates and numbers, the
static files, and styled error pages."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from tests.console.conftest import html

PAGES = ("", "datasets/", "experiments/", "models/", "lineage/", "tokens/")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_title_the_tenant_and_the_role(alpha, page_as, path):
    body = html(page_as("rita").get(f"/t/alpha/{path}"))
    title = re.search(r"<title>(.*?)</title>", body, re.S)[1]
    assert title.endswith(" · Alpha · mlgov")
    assert len(title) > len(" · Alpha · mlgov")
    assert 'class="tenant-name"' in body
    assert ">Alpha<" in body
    assert 'data-testid="role">Reviewer<' in body
    assert 'href="#main"' in body  # skip link for keyboard users


@pytest.mark.parametrize(("username", "audit", "members"), [
    ("alice", True, True), ("audrey", True, True), ("mia", False, False),
    ("victor", False, False), ("bob", False, False),
])
def test_navigation_offers_only_what_the_role_may_open(alpha, page_as, username, audit,
                                                       members):
    body = html(page_as(username).get("/t/alpha/"))
    nav = body.split('<nav class="nav"')[1].split("</nav>")[0]
    for section in ("datasets/", "experiments/", "models/", "lineage/", "access/"):
        assert f'href="/t/alpha/{section}"' in nav
    assert ('href="/t/alpha/audit/"' in nav) is audit
    assert ('aria-current="page"' in nav)
    tokens = html(page_as(username).get("/t/alpha/tokens/"))
    assert ('href="/t/alpha/members/"' in tokens) is members


def test_switching_to_german_translates_pages_and_dates(world, page_as):
    client = page_as("victor")
    # when victor picks Deutsch in the header
    response = client.post("/t/alpha/i18n/setlang/", {"language": "de", "next": "/t/alpha/"})
    # then he is sent back, with a language cookie scoped to alpha's path
    assert response.status_code == 302
    assert response["Location"] == "/t/alpha/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME]["path"] == "/t/alpha/"
    body = html(client.get("/t/alpha/"))
    assert '<html lang="de">' in body
    assert "Übersicht" in body
    assert "Datensätze" in body
    assert "Abmelden" in body
    assert 'aria-pressed="true">DE<' in body
    # dates are German (day.month.year)
    assert re.search(r"\d{2}\.\d{2}\.\d{4}", body)
    # numbers too: a metric's decimal comma on the run page, tick labels in charts
    run_page = html(client.get(f"/t/alpha/runs/{world.runs[0].pk}/"))
    assert "Neueste Metriken" in run_page
    assert "0,8" in run_page
    chart = html(client.get(f"/t/alpha/runs/{world.runs[0].pk}/chart/?key=loss"))
    assert re.search(r'class="tick"[^>]*>0,\d', chart)
    assert 'points="' in chart
    assert "," in chart.split('points="')[1].split(" ")[0]


def test_the_sign_in_page_switches_language_without_a_session(alpha):
    client = Client()
    client.get("/t/alpha/login/")
    client.post("/t/alpha/i18n/setlang/", {"language": "de", "next": "/t/alpha/login/"})
    assert "Benutzername" in html(client.get("/t/alpha/login/"))


def test_the_language_switch_only_takes_posts(alpha):
    assert Client().get("/t/alpha/i18n/setlang/?language=de").status_code == 405


def test_static_files_of_the_console_and_htmx_are_served(alpha):
    client = Client()
    for path in ("mlgov/console.css", "mlgov/console.js", "mlgov/lineage.js",
                 "django_htmx/htmx-2.min.js"):
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, path


def test_unknown_pages_are_a_styled_404(alpha, page_as):
    response = page_as("mia").get("/t/alpha/no-such-page/", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    body = html(response)
    assert "<title>Not found · Alpha · mlgov</title>" in body
    assert "/static/mlgov/console.css" in body


def test_forms_have_labels_for_their_fields(world, page_as):
    # every input, select and textarea of the forms is named by a label (or aria-label)
    client = page_as("alice")
    for path in ("tokens/", "members/", "audit/", "datasets/", "experiments/",
                 f"models/{world.model.pk}/versions/1/card/"):
        body = html(client.get(f"/t/alpha/{path}"))
        for tag in re.finditer(r"<(input|select|textarea)\b([^>]*)>", body):
            attributes = tag[2]
            if re.search(r'type="(hidden|submit|checkbox)"', attributes):
                continue
            field_id = re.search(r'\bid="([^"]+)"', attributes)
            assert field_id, (path, attributes)
            assert f'for="{field_id[1]}"' in body, (path, attributes)
