"""mlgov.queue and the worker start-up checks, in process (no worker, no broker)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django_tenants.utils import schema_context

from mlgov.celery import (
    app,
    assert_training_recycles_children,
    assert_visibility_timeout,
    longest_hard_time_limit,
)
from mlgov.queue import MissingTenant, enqueue_after_commit
from tenants.tasks import tenant_worker_selftest


@pytest.fixture()
def sent(monkeypatch):
    """Calls to the self-test's apply_async, instead of messages to a broker."""
    calls: list[dict] = []
    monkeypatch.setattr(
        tenant_worker_selftest, "apply_async", lambda **kwargs: calls.append(kwargs)
    )
    return calls


def test_enqueue_after_commit_sends_at_commit_with_the_tenant_of_the_call(
    alpha, beta, sent, django_capture_on_commit_callbacks
):
    # given a task enqueued in alpha, in a transaction that ends while in beta
    with django_capture_on_commit_callbacks(execute=True):
        with schema_context(alpha.schema_name):
            enqueue_after_commit(tenant_worker_selftest, "n1", queue="q", headers={"x": "1"})
            assert sent == []  # nothing before the commit
        connection.set_schema(beta.schema_name)
    # then it is sent once, for alpha, with the caller's options and headers
    assert sent == [
        {"args": ("n1",), "headers": {"x": "1", "_schema_name": alpha.schema_name}, "queue": "q"}
    ]


def test_enqueue_after_commit_in_a_rolled_back_transaction_sends_nothing(
    alpha, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with schema_context(alpha.schema_name), transaction.atomic():
            enqueue_after_commit(tenant_worker_selftest, "n1")
            transaction.set_rollback(True)
    assert callbacks == []
    assert sent == []


def test_enqueue_after_commit_outside_a_tenant_refuses(db, sent):
    connection.set_schema_to_public()
    with pytest.raises(MissingTenant):
        enqueue_after_commit(tenant_worker_selftest, "n1")
    assert sent == []


def _broker(monkeypatch, url: str, options: dict) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery reads it before its own setting
    monkeypatch.setitem(app.conf, "broker_url", url)
    monkeypatch.setitem(app.conf, "broker_read_url", None)
    monkeypatch.setitem(app.conf, "broker_transport_options", options)


def test_visibility_timeout_below_the_longest_time_limit_is_refused(monkeypatch, settings):
    # the longest limit may come from a registered task (the training task's own)
    longest = longest_hard_time_limit()
    _broker(monkeypatch, "redis://127.0.0.1:1/0", {"visibility_timeout": longest})
    with pytest.raises(
        ImproperlyConfigured, match=rf"\({longest}s\) must exceed .* \({longest}s\)"
    ):
        assert_visibility_timeout()


def test_visibility_timeout_above_the_longest_time_limit_passes(monkeypatch, settings):
    _broker(
        monkeypatch, "redis://127.0.0.1:1/0", {"visibility_timeout": longest_hard_time_limit() + 1}
    )
    assert_visibility_timeout()


def test_visibility_timeout_is_not_checked_where_the_broker_has_none(monkeypatch):
    # kombu's SQLAlchemy transport (and AMQP) never redeliver on a timeout
    _broker(monkeypatch, "sqla+postgresql://nobody@127.0.0.1:1/none", {})
    assert_visibility_timeout()


@pytest.mark.parametrize(
    ("queues", "max_tasks_per_child", "refused"),
    [
        ({"training"}, None, True),
        ({"training", "default"}, 10, True),
        ({"training"}, 1, False),
        ({"default", "evaluation"}, None, False),
    ],
)
def test_training_workers_must_recycle_their_child(queues, max_tasks_per_child, refused):
    if refused:
        with pytest.raises(ImproperlyConfigured, match="--max-tasks-per-child 1"):
            assert_training_recycles_children(queues, max_tasks_per_child)
    else:
        assert_training_recycles_children(queues, max_tasks_per_child)
