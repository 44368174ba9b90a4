"""Every list page of the console runs the same number of queries with 10 and with 1,000
objects: nothing is fetched row by row (STYLE.md: lists: same query count for 10 and 1,000).

Rows are bulk-inserted (these tests are about the pages, not the services); each page is
opened once to warm per-process caches, then measured, then measured again after 990 more
objects joined the 10.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from mlgov.identity.models import ApiToken, Membership
from registry.models import (
    Artifact,
    Dataset,
    DatasetVersion,
    Experiment,
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Run,
    RunMetricLatest,
    RunTag,
    StageTransition,
)
from tests.conftest import user_in

_serial = itertools.count(1)


def _artifacts(count: int, kind: str) -> list[Artifact]:
    return Artifact.objects.bulk_create(
        Artifact(kind=kind, sha256="0" * 64, size_bytes=10, key_version=1) for _ in range(count)
    )


def _datasets(owner, count, state):
    Dataset.objects.bulk_create(
        Dataset(name=f"ds-{next(_serial)}", created_by=owner) for _ in range(count)
    )
    return "datasets/"


def _dataset_versions(owner, count, state):
    if "dataset" not in state:
        state["dataset"] = Dataset.objects.create(name="big", created_by=owner)
    dataset = state["dataset"]
    start = DatasetVersion.objects.filter(dataset=dataset).count()
    DatasetVersion.objects.bulk_create(
        DatasetVersion(
            dataset=dataset, version=start + index + 1, artifact=artifact, file_format="csv",
            columns=[{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "object"}],
            row_count=1, sensitive_attributes=["b"], created_by=owner,
        )
        for index, artifact in enumerate(_artifacts(count, Artifact.Kind.DATASET))
    )
    return f"datasets/{dataset.pk}/"


def _experiments(owner, count, state):
    Experiment.objects.bulk_create(
        Experiment(name=f"exp-{next(_serial)}", created_by=owner) for _ in range(count)
    )
    return "experiments/"


def _runs(owner, count, state):
    if "experiment" not in state:
        state["experiment"] = Experiment.objects.create(name="big", created_by=owner)
    experiment = state["experiment"]
    now = timezone.now()
    runs = Run.objects.bulk_create(
        Run(experiment=experiment, name=f"run-{index}", start_time=now - timedelta(seconds=index),
            created_by=owner)
        for index in range(count)
    )
    RunTag.objects.bulk_create(RunTag(run=run, key="team", value="growth") for run in runs)
    RunMetricLatest.objects.bulk_create(
        RunMetricLatest(run=run, key=key, value=0.5, step=1, timestamp=1)
        for run in runs for key in ("loss", "accuracy")
    )
    return f"experiments/{experiment.pk}/"


def _models(owner, count, state):
    models = RegisteredModel.objects.bulk_create(
        RegisteredModel(name=f"model-{next(_serial)}", created_by=owner) for _ in range(count)
    )
    versions = ModelVersion.objects.bulk_create(
        ModelVersion(registered_model=model, version=1, stage="production", created_by=owner)
        for model in models
    )
    ModelAlias.objects.bulk_create(
        ModelAlias(registered_model=version.registered_model, alias="champion",
                   model_version=version)
        for version in versions
    )
    RegisteredModelTag.objects.bulk_create(
        RegisteredModelTag(registered_model=model, key="team", value="growth") for model in models
    )
    return "models/"


def _model_versions(owner, count, state):
    if "model" not in state:
        state["model"] = RegisteredModel.objects.create(name="big", created_by=owner)
    model = state["model"]
    start = ModelVersion.objects.filter(registered_model=model).count()
    versions = ModelVersion.objects.bulk_create(
        ModelVersion(registered_model=model, version=start + index + 1, created_by=owner,
                     model_format="skops")
        for index in range(count)
    )
    ModelVersionTag.objects.bulk_create(
        ModelVersionTag(model_version=version, key="k", value="v") for version in versions
    )
    return f"models/{model.pk}/"


def _dashboard(owner, count, state):
    _runs(owner, count, state)
    _model_versions(owner, count, state)
    versions = list(ModelVersion.objects.order_by("-pk")[:count])
    StageTransition.objects.bulk_create(
        StageTransition(model_version=version, from_value="none", to_value="staging", actor=owner)
        for version in versions
    )
    return ""


def _lineage_picker(owner, count, state):
    _dataset_versions(owner, count, state)
    _model_versions(owner, count, state)
    return "lineage/"


def _audit(owner, count, state):
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            sequence=(head or 0) + index + 1, occurred_at=now, actor_id=owner.pk,
            actor_username=owner.username, action="test.event", object_type="thing",
            object_id=str(index), after={"n": index}, previous_hash="0" * 64,
            event_hash=uuid.uuid4().hex * 2,
        )
        for index in range(count)
    )
    return "audit/"


def _members(owner, count, state):
    viewer = Group.objects.get(name="viewer")
    users = User.objects.bulk_create(
        User(username=f"member-{next(_serial)}", email="m@alpha.test") for _ in range(count)
    )
    Membership.objects.bulk_create(Membership(user=user) for user in users)
    User.groups.through.objects.bulk_create(
        User.groups.through(user_id=user.pk, group_id=viewer.pk) for user in users
    )
    return "members/"


def _tokens(owner, count, state):
    expires = timezone.now() + timedelta(days=30)
    ApiToken.objects.bulk_create(
        ApiToken(user=owner, name=f"t{index}", prefix=uuid.uuid4().hex[:16],
                 token_hash=uuid.uuid4().hex * 2, scope="read", expires_at=expires)
        for index in range(count)
    )
    return "tokens/"


LIST_PAGES = {
    "datasets": _datasets,
    "dataset versions": _dataset_versions,
    "experiments": _experiments,
    "runs of an experiment": _runs,
    "models": _models,
    "versions of a model": _model_versions,
    "dashboard": _dashboard,
    "lineage picker": _lineage_picker,
    "audit log": _audit,
    "members": _members,
    "tokens": _tokens,
}


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize("page", LIST_PAGES)
def test_list_page_queries_do_not_grow_with_rows(alpha, page_as, page):
    # given alice (owner) signed in and 10 objects of the page's kind
    client = page_as("alice")
    grow = LIST_PAGES[page]
    state: dict = {}
    with schema_context(alpha.schema_name):
        owner = user_in(alpha, "alice")
        path = grow(owner, 10, state)
    url = f"/t/alpha/{path}"
    client.get(url)  # warm per-process caches (content types, permissions)
    # when the page is opened with 10, then with 1,000
    with_ten = _queries(client, url)
    with schema_context(alpha.schema_name):
        grow(owner, 990, state)
    with_thousand = _queries(client, url)
    # then the number of queries is the same
    assert with_ten == with_thousand, f"{page}: {with_ten} with 10, {with_thousand} with 1,000"
