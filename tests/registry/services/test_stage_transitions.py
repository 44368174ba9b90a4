"""The one stage/alias service: history, one production version, aliases, the gate hook."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from registry.models import ModelAlias, ModelVersion, StageTransition
from registry.services.stages import (
    InvalidAlias,
    InvalidTransition,
    ReservedAlias,
    TransitionRefused,
    TransitionRequest,
    VersionNotVerified,
    model_version_transition,
)
from tests.conftest import user_in
from tests.registry.model_world import make_model, make_version

GATE_CALLS: list[TransitionRequest] = []


def recording_gate(request: TransitionRequest) -> None:
    GATE_CALLS.append(request)


def refusing_gate(request: TransitionRequest) -> None:
    if request.to_value == "production":
        raise TransitionRefused("Policy not met.", details={"failing": ["fairness_report"]})


@pytest.fixture()
def world(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        model = make_model(alice, "churn")
        yield alice, model, [make_version(model) for _ in range(3)]


def test_stage_change_records_who_when_why_and_audits(world):
    alice, model, (v1, _, _) = world
    # when v1 goes to staging
    recorded = model_version_transition(
        acting_user=alice, version=v1, stage="staging", reason="ready for QA"
    )
    # then the version moved and the transition says who, from, to and why
    v1.refresh_from_db()
    assert v1.stage == "staging"
    (transition,) = recorded
    assert (transition.kind, transition.from_value, transition.to_value) == (
        "stage",
        "none",
        "staging",
    )
    assert transition.actor == alice
    assert transition.reason == "ready for QA"
    assert transition.created_at is not None
    event = AuditEvent.objects.get(action="model_version.stage", object_id=str(v1.pk))
    assert event.before["value"] == "none"
    assert event.after["value"] == "staging"
    assert event.after["reason"] == "ready for QA"


def test_production_archives_the_previous_production_version(world):
    alice, model, (v1, v2, v3) = world
    model_version_transition(acting_user=alice, version=v1, stage="production", reason="first")
    # when v2 goes to production
    recorded = model_version_transition(
        acting_user=alice, version=v2, stage="production", reason="better"
    )
    # then exactly one production version remains and v1's archiving is recorded too
    stages = dict(ModelVersion.objects.filter(registered_model=model).values_list("pk", "stage"))
    assert stages == {v1.pk: "archived", v2.pk: "production", v3.pk: "none"}
    assert [(t.model_version_id, t.to_value) for t in recorded] == [
        (v2.pk, "production"),
        (v1.pk, "archived"),
    ]
    assert "Superseded by version 2" in recorded[1].reason
    history = StageTransition.objects.filter(model_version=v1).order_by("id")
    assert [(t.from_value, t.to_value) for t in history] == [
        ("none", "production"),
        ("production", "archived"),
    ]


def test_unchanged_stage_and_unverified_versions_are_refused(world):
    alice, model, (v1, _, _) = world
    with pytest.raises(InvalidTransition):
        model_version_transition(acting_user=alice, version=v1, stage="none", reason="x")
    unverified = make_version(model, verified=False)
    for stage in ("staging", "production"):
        with pytest.raises(VersionNotVerified):
            model_version_transition(acting_user=alice, version=unverified, stage=stage, reason="x")
    # archiving an unverified version is fine
    model_version_transition(
        acting_user=alice, version=unverified, stage="archived", reason="bad file"
    )


def test_stage_or_alias_but_not_both_nor_neither(world):
    alice, _, (v1, _, _) = world
    with pytest.raises(InvalidTransition):
        model_version_transition(acting_user=alice, version=v1, reason="x")
    with pytest.raises(InvalidTransition):
        model_version_transition(
            acting_user=alice, version=v1, stage="staging", alias="a", reason="x"
        )


def test_alias_set_move_and_remove_are_recorded(world):
    alice, model, (v1, v2, _) = world
    model_version_transition(acting_user=alice, version=v1, alias="champion", reason="best")
    # setting it again on the same version records nothing
    assert (
        model_version_transition(acting_user=alice, version=v1, alias="champion", reason="again")
        == []
    )
    # when moved to v2
    (moved,) = model_version_transition(
        acting_user=alice, version=v2, alias="champion", reason="newer"
    )
    # then the alias names v2, and the record says it came from v1
    assert ModelAlias.objects.get(registered_model=model, alias="champion").model_version == v2
    assert (moved.kind, moved.from_value, moved.to_value) == ("alias_set", "1", "champion")
    # removing from the wrong version is refused; from the holder it works
    with pytest.raises(InvalidTransition):
        model_version_transition(
            acting_user=alice, version=v1, alias="champion", remove_alias=True, reason="x"
        )
    (removed,) = model_version_transition(
        acting_user=alice, version=v2, alias="champion", remove_alias=True, reason="retired"
    )
    assert (removed.kind, removed.from_value, removed.to_value) == ("alias_removed", "champion", "")
    assert not ModelAlias.objects.filter(registered_model=model).exists()
    assert AuditEvent.objects.filter(action="model_version.alias_removed").count() == 1


@pytest.mark.parametrize("alias", ["Champion", "", "a" * 101, "a/b", "a.b", "é"])
def test_malformed_alias_names_are_refused(world, alias):
    alice, _, (v1, _, _) = world
    with pytest.raises(InvalidAlias):
        model_version_transition(acting_user=alice, version=v1, alias=alias, reason="x")


def test_latest_is_reserved(world):
    alice, _, (v1, _, _) = world
    with pytest.raises(ReservedAlias):
        model_version_transition(acting_user=alice, version=v1, alias="latest", reason="x")


def test_configured_gates_see_every_transition_and_can_refuse(world, settings):
    alice, _, (v1, v2, _) = world
    GATE_CALLS.clear()
    module = __name__
    settings.MLGOV_TRANSITION_GATES = [f"{module}.recording_gate", f"{module}.refusing_gate"]
    # when a stage and an alias change pass through the service
    model_version_transition(acting_user=alice, version=v1, stage="staging", reason="qa")
    model_version_transition(acting_user=alice, version=v1, alias="challenger", reason="ab")
    # then the gate saw both, with what would be recorded
    assert [(r.kind, r.from_value, r.to_value, r.alias) for r in GATE_CALLS] == [
        ("stage", "none", "staging", ""),
        ("alias_set", "", "challenger", "challenger"),
    ]
    # and a refusing gate stops the change before anything is written
    with pytest.raises(TransitionRefused) as refused:
        model_version_transition(acting_user=alice, version=v2, stage="production", reason="go")
    assert refused.value.details == {"failing": ["fairness_report"]}
    v2.refresh_from_db()
    assert v2.stage == "none"
    assert not StageTransition.objects.filter(model_version=v2).exists()
