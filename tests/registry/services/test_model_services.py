"""Registered models: create, rename, tag, delete only while empty; audited; creator perms."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django_tenants.utils import schema_context
from guardian.models import UserObjectPermission

from mlgov.audit.models import AuditEvent
from registry.models import RegisteredModel
from registry.permissions import has_object_permission
from registry.services.models import (
    ModelHasVersions,
    ModelNameTaken,
    TooManyTags,
    registered_model_delete,
    registered_model_update,
)
from tests.conftest import user_in
from tests.registry.model_world import make_model, make_version


def test_create_grants_the_creator_and_is_audited(alpha):
    with schema_context(alpha.schema_name):
        # given mia, a maintainer
        mia = user_in(alpha, "mia")
        # when she creates a model
        model = make_model(mia, "churn", description="d", tags={"team": "growth"})
        # then she holds change, delete and download on it, and the event is recorded
        for action in ("view", "change", "delete", "download"):
            assert has_object_permission(mia, model, action)
        assert not has_object_permission(user_in(alpha, "victor"), model, "change")
        event = AuditEvent.objects.get(action="registered_model.create", object_id=str(model.pk))
        assert event.after == {"name": "churn", "description": "d", "tags": {"team": "growth"}}


def test_a_taken_name_is_refused(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        make_model(alice, "churn")
        with pytest.raises(ModelNameTaken):
            make_model(alice, "churn")
        assert RegisteredModel.objects.filter(name="churn").count() == 1


def test_rename_describe_and_merge_tags(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        model = make_model(alice, "churn", tags={"a": "1", "b": "2"})
        make_model(alice, "other")
        # when renamed onto a taken name / then refused
        with pytest.raises(ModelNameTaken):
            registered_model_update(acting_user=alice, model=model, name="other")
        # when renamed, described and retagged (null removes)
        registered_model_update(
            acting_user=alice,
            model=model,
            name="churn-v2",
            description="new",
            tags={"a": None, "c": "3"},
        )
        model.refresh_from_db()
        assert (model.name, model.description) == ("churn-v2", "new")
        assert {t.key: t.value for t in model.tags.all()} == {"b": "2", "c": "3"}
        event = AuditEvent.objects.filter(action="registered_model.update").latest("sequence")
        assert event.before["name"] == "churn"
        assert event.after["name"] == "churn-v2"


def test_too_many_tags_is_refused(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        model = make_model(alice, "churn")
        with pytest.raises(TooManyTags):
            registered_model_update(
                acting_user=alice, model=model, tags={f"k{i}": "v" for i in range(101)}
            )


def test_delete_is_refused_while_versions_exist(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        model = make_model(alice, "churn")
        make_version(model)
        with pytest.raises(ModelHasVersions):
            registered_model_delete(acting_user=alice, model=model)
        assert RegisteredModel.objects.filter(pk=model.pk).exists()


def test_delete_of_an_empty_model_removes_its_grants(alpha):
    with schema_context(alpha.schema_name):
        mia = user_in(alpha, "mia")
        model = make_model(mia, "churn")
        pk = model.pk
        registered_model_delete(acting_user=mia, model=model)
        assert not RegisteredModel.objects.filter(pk=pk).exists()
        content_type = ContentType.objects.get_for_model(RegisteredModel)
        assert not UserObjectPermission.objects.filter(
            content_type=content_type, object_pk=str(pk)
        ).exists()
        assert AuditEvent.objects.filter(action="registered_model.delete", object_id=str(pk))
