"""Check, end to end, that a Celery worker runs a tenant's task in that tenant's schema."""

from __future__ import annotations

import json
import secrets
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django_tenants.utils import schema_context
from kombu.exceptions import OperationalError as BrokerUnavailable
from kombu.utils.url import maybe_sanitize_url

from mlgov.audit.models import AuditEvent
from mlgov.queue import enqueue_after_commit
from tenants.models import Tenant
from tenants.tasks import SELFTEST_ACTION, tenant_worker_selftest

POLL_SECONDS = 0.2
PROGRESS_SECONDS = 5.0


def _selftest_event(schema_name: str, nonce: str) -> dict | None:
    """The self-test event for `nonce` in exactly `schema_name` (not via search_path)."""
    quote = connection.ops.quote_name
    table = f"{quote(schema_name)}.{quote(AuditEvent._meta.db_table)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sequence, after FROM {table} WHERE action = %s AND object_id = %s",
            [SELFTEST_ACTION, nonce],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    # Django leaves jsonb undecoded on raw cursors.
    after = json.loads(row[1]) if isinstance(row[1], str) else row[1]
    return {"sequence": row[0], **(after or {})}


def _schemas_holding(nonce: str, *, except_schema: str) -> list[str]:
    schemas = ["public", *Tenant.objects.values_list("schema_name", flat=True)]
    return [
        schema for schema in schemas
        if schema != except_schema and _selftest_event(schema, nonce) is not None
    ]


class Command(BaseCommand):
    help = (
        "Send a self-test task for one tenant and wait until a worker has written its "
        "`worker.selftest` audit event into that tenant's schema."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant's slug")
        parser.add_argument(
            "--timeout", type=float, default=30.0,
            help="seconds to wait for a worker (default: 30)",
        )
        parser.add_argument(
            "--queue", default=None,
            help="queue to send to (default: the default queue; e.g. training, evaluation)",
        )

    def handle(self, *args, **options) -> None:
        timeout = options["timeout"]
        if timeout <= 0:
            raise CommandError("--timeout must be a positive number of seconds.")
        slug = options["tenant"]
        connection.set_schema_to_public()
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        app = tenant_worker_selftest.app
        queue = options["queue"] or app.conf.task_default_queue
        broker = maybe_sanitize_url(app.connection_for_write().as_uri(include_password=True))
        nonce = secrets.token_hex(8)
        if tenant.is_suspended:
            self.stdout.write(self.style.WARNING(f"Tenant {slug!r} is suspended; testing anyway."))

        self.stdout.write(
            f"Sending a self-test task (nonce {nonce}) for tenant {slug!r} "
            f"(schema {tenant.schema_name}) to queue {queue!r} on {broker}…"
        )
        started = time.monotonic()
        try:
            with schema_context(tenant.schema_name):
                enqueue_after_commit(tenant_worker_selftest, nonce, queue=queue)
        except BrokerUnavailable as error:
            raise CommandError(
                f"Could not send to the broker at {broker}: {str(error).rstrip('.')}. "
                "Check CELERY_BROKER_URL and that the broker is running."
            ) from None

        next_progress = started + PROGRESS_SECONDS
        while True:
            event = _selftest_event(tenant.schema_name, nonce)
            now = time.monotonic()
            if event is not None or now - started >= timeout:
                break
            if now >= next_progress:
                self.stdout.write(f"  still waiting for a worker ({now - started:.0f}s)…")
                next_progress += PROGRESS_SECONDS
            time.sleep(POLL_SECONDS)
        connection.set_schema_to_public()

        if event is not None:
            self.stdout.write(self.style.SUCCESS(
                f"Worker {event.get('hostname')} (pid {event.get('pid')}) ran the self-test "
                f"for tenant {slug!r} in {time.monotonic() - started:.1f}s and wrote audit "
                f"event #{event['sequence']} `{SELFTEST_ACTION}` in schema {tenant.schema_name}."
            ))
            self.stdout.write(f"Workers on queue {queue!r} route tenant {slug!r} correctly.")
            return

        misrouted = _schemas_holding(nonce, except_schema=tenant.schema_name)
        if misrouted:
            raise CommandError(
                f"MISROUTED: a worker ran the self-test for tenant {slug!r} but wrote into "
                f"schema(s) {', '.join(misrouted)} instead of {tenant.schema_name}. Stop the "
                "workers on this queue and check their tenant-schemas-celery setup."
            )
        raise CommandError(
            f"No worker answered within {timeout:g}s. What to check:\n"
            f"  - a worker consumes queue {queue!r}, e.g. "
            f"`celery -A mlgov worker -Q {queue} --loglevel INFO`; "
            "`celery -A mlgov inspect active_queues` lists what running workers consume;\n"
            f"  - the worker uses the same CELERY_BROKER_URL ({broker}) and DATABASE_URL "
            "as this command;\n"
            "  - the worker's log for `Refused task tenants.tasks.tenant_worker_selftest` "
            "(a worker that cannot switch to the tenant refuses the task).\n"
            "The message stays queued until a worker takes it; it only writes the self-test "
            "event. Run this command again once a worker is up."
        )
