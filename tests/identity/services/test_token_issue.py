"""token_issue: a token only mints tokens of its own scope or narrower."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from mlgov.identity.errors import InvalidExpiry, ScopeTooWide
from mlgov.identity.services import token_issue
from tests.conftest import user_in


@pytest.mark.parametrize(
    ("acting_scope", "scope"), [("read", "write"), ("read", "admin"), ("write", "admin")]
)
def test_a_token_cannot_mint_a_wider_one(alpha, acting_scope, scope):
    # given alice acting through a token of `acting_scope`
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        # when she asks for a wider token / then it is refused
        with pytest.raises(ScopeTooWide):
            token_issue(
                acting_user=alice, user=alice, name="x", scope=scope, acting_scope=acting_scope
            )


@pytest.mark.parametrize(
    ("acting_scope", "scope"), [("read", "read"), ("write", "read"), ("admin", "admin")]
)
def test_a_token_mints_its_own_scope_or_narrower(alpha, acting_scope, scope):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        issued = token_issue(
            acting_user=alice, user=alice, name="x", scope=scope, acting_scope=acting_scope
        )
        assert issued.token.scope == scope


@pytest.mark.parametrize("days", [0, -1, 367])
def test_expiry_outside_one_to_366_days_is_refused(alpha, days):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        with pytest.raises(InvalidExpiry):
            token_issue(acting_user=None, user=alice, name="x", scope="read", expires_days=days)
