"""Experiment services: create with creator permissions, unique names, update, soft delete."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from registry import permissions
from registry.services.experiments import (
    TrackingError,
    experiment_create,
    experiment_delete,
    experiment_restore,
    experiment_update,
)
from tests.conftest import user_in


def test_creator_gets_object_permissions_and_the_event_is_audited(alpha):
    with schema_context(alpha.schema_name):
        # given mia, a maintainer (view and add through her role, nothing more)
        mia = user_in(alpha, "mia")
        # when she creates an experiment
        experiment = experiment_create(
            acting_user=mia, name="churn", description="d", tags={"team": "risk"}
        )
        # then she holds view, change, delete and download on it, and it is audited
        for action in ("view", "change", "delete", "download"):
            assert permissions.has_object_permission(mia, experiment, action)
        event = AuditEvent.objects.get(action="experiment.create", object_id=str(experiment.pk))
        assert event.actor_username == "mia"
        assert event.after["tags"] == {"team": "risk"}


def test_names_are_unique_even_after_a_soft_delete(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        first = experiment_create(acting_user=alice, name="churn")
        experiment_delete(acting_user=alice, experiment=first)
        with pytest.raises(TrackingError) as caught:
            experiment_create(acting_user=alice, name="churn")
        assert (caught.value.status, caught.value.code) == (409, "name_taken")


def test_rename_to_a_taken_name_is_409_and_changes_nothing(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        experiment_create(acting_user=alice, name="a")
        second = experiment_create(acting_user=alice, name="b")
        with pytest.raises(TrackingError) as caught:
            experiment_update(acting_user=alice, experiment=second, name="a")
        assert caught.value.code == "name_taken"
        second.refresh_from_db()
        assert second.name == "b"


def test_update_replaces_tags_and_audits_before_and_after(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        experiment = experiment_create(acting_user=alice, name="x", tags={"a": "1"})
        experiment_update(acting_user=alice, experiment=experiment, tags={"b": "2"})
        experiment.refresh_from_db()
        assert experiment.tags == {"b": "2"}
        event = AuditEvent.objects.get(action="experiment.update")
        assert event.before["tags"] == {"a": "1"}
        assert event.after["tags"] == {"b": "2"}


def test_a_member_who_sees_but_may_not_change_gets_403(alpha):
    with schema_context(alpha.schema_name):
        experiment = experiment_create(acting_user=user_in(alpha, "alice"), name="x")
        # victor (viewer) sees it; bob (no role) does not
        with pytest.raises(TrackingError) as caught:
            experiment_update(acting_user=user_in(alpha, "victor"), experiment=experiment, name="y")
        assert caught.value.status == 403
        with pytest.raises(TrackingError) as caught:
            experiment_delete(acting_user=user_in(alpha, "bob"), experiment=experiment)
        assert caught.value.status == 404


def test_deleted_experiment_refuses_updates_until_restored(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        experiment = experiment_create(acting_user=alice, name="x")
        experiment_delete(acting_user=alice, experiment=experiment)
        with pytest.raises(TrackingError) as caught:
            experiment_update(acting_user=alice, experiment=experiment, name="y")
        assert caught.value.code == "experiment_deleted"
        restored = experiment_restore(acting_user=alice, experiment=experiment)
        assert restored.lifecycle_stage == "active"
        assert experiment_update(acting_user=alice, experiment=restored, name="y").name == "y"
        actions = list(
            AuditEvent.objects.filter(object_type="experiment")
            .values_list("action", flat=True)
            .order_by("sequence")
        )
        assert actions == [
            "experiment.create",
            "experiment.delete",
            "experiment.restore",
            "experiment.update",
        ]


@pytest.mark.parametrize(
    "tags", [["not", "a", "dict"], {"k": 1}, {"": "v"}, {f"k{i}": "v" for i in range(101)}]
)
def test_bad_tags_are_refused(alpha, tags):
    with schema_context(alpha.schema_name):
        with pytest.raises(TrackingError) as caught:
            experiment_create(acting_user=user_in(alpha, "alice"), name="x", tags=tags)
        assert caught.value.status == 400
