"""Fixtures of the console tests: a registry world in tenant alpha made by mia (maintainer),
and signed-in clients for any persona."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tests.conftest import user_in
from tests.console.world import build_world


@pytest.fixture()
def world(alpha):
    with schema_context(alpha.schema_name):
        return build_world(user_in(alpha, "mia"))


@pytest.fixture()
def page_as(alpha, console_login):
    """`page_as("victor")`: a Client signed in to alpha's console as that persona."""

    def make(username, tenant=None):
        return console_login(tenant or alpha, username)

    return make


def html(response) -> str:
    return response.content.decode()
