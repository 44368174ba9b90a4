"""Recent activity selectors: only what the user may see."""

from __future__ import annotations

from django_tenants.utils import schema_context

from registry.selectors.activity import dataset_version_recent, stage_transition_recent
from tests.conftest import user_in
from tests.console.world import build_world


def test_recent_activity_is_restricted_to_the_user(alpha):
    with schema_context(alpha.schema_name):
        world = build_world(user_in(alpha, "mia"))
        victor, bob = user_in(alpha, "victor"), user_in(alpha, "bob")
        # given a viewer (role view) and bob (no role, no grant)
        changes = list(stage_transition_recent(acting_user=victor, limit=2))
        versions = list(dataset_version_recent(acting_user=victor))
        # then the viewer sees the newest changes first, bob sees nothing
        assert [change.to_value for change in changes] == ["champion", "production"]
        assert versions == [world.dataset_version]
        assert list(stage_transition_recent(acting_user=bob)) == []
        assert list(dataset_version_recent(acting_user=bob)) == []
