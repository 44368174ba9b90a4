"""The worker accepts JSON only: a pickled message is discarded without being unpickled."""

from __future__ import annotations

import pathlib
import uuid

import pytest
from django_tenants.utils import schema_context
from kombu import Exchange, Queue

from tenants.tasks import tenant_worker_selftest
from tests.mlgov.celery.audit_probe import schemas_holding, selftest_nonces

pytestmark = pytest.mark.worker


class TouchOnUnpickle:
    """Unpickling this creates a file: proof that a worker deserialised the message."""

    def __init__(self, path: pathlib.Path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def _publish_pickled_selftest(queue: str, schema: str, nonce: str, marker: pathlib.Path) -> str:
    """A well-formed task message (Celery protocol 2) whose body is a pickle, sent with kombu."""
    from mlgov.celery import app

    task_id = str(uuid.uuid4())
    message = app.amqp.as_task_v2(
        task_id, tenant_worker_selftest.name, args=[nonce, TouchOnUnpickle(marker)], kwargs={},
    )
    exchange = Exchange(queue, type="direct")
    with app.connection_for_write() as connection:
        connection.Producer().publish(
            message.body,
            exchange=exchange,
            routing_key=queue,
            serializer="pickle",
            headers={**message.headers, "_schema_name": schema},
            declare=[Queue(queue, exchange, routing_key=queue)],
            **message.properties,
        )
    return task_id


def test_a_pickled_message_is_refused_unread(
    worker, queue, committed_tenant, committed_db, tmp_path
):
    # given a pickled self-test for a real tenant, whose unpickling would create a file,
    marker = tmp_path / "unpickled"
    nonce = f"pickle-{uuid.uuid4().hex[:12]}"
    _publish_pickled_selftest(queue, committed_tenant.schema_name, nonce, marker)
    # followed by an ordinary JSON self-test
    sentinel = f"json-{uuid.uuid4().hex[:12]}"
    with schema_context(committed_tenant.schema_name):
        tenant_worker_selftest.apply_async(args=[sentinel], queue=queue)

    # when the worker has run the JSON one (it took the pickled one first)
    worker.wait_until(
        lambda: sentinel in selftest_nonces(committed_tenant.schema_name),
        what="the JSON self-test after the pickled one",
    )

    # then the pickled one was never unpickled nor run, and the worker says why
    assert not marker.exists()
    assert schemas_holding(nonce) == []
    refusal = worker.log().split("Received invalid task message: ", 1)[1]
    assert refusal.startswith("Refusing to deserialize untrusted content of type pickle")
    assert nonce in refusal.split("Traceback", 1)[0]  # the discarded body is ours
