"""`manage.py audit_verify --tenant <slug>` / `--platform`: verify an audit chain.

Prints `chain whole: N events` and exits 0, or the first bad event and why and exits 1.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

from mlgov.audit.anchors import anchor_latest
from mlgov.audit.verify import DEFAULT_BATCH_SIZE, chain_verify

BROKEN_EXIT_CODE = 1


class Command(BaseCommand):
    help = (
        "Verify the audit chain of a tenant (--tenant <slug>) or of the platform "
        "(--platform): recompute every hash, check the latest anchor, report the first "
        "bad event. Exit status 1 when the chain is broken."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--tenant", metavar="SLUG", help="the tenant whose chain to verify")
        which.add_argument(
            "--platform", action="store_true", help="verify the platform chain (public schema)"
        )
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args, **options) -> None:
        if options["platform"]:
            schema_name, label = get_public_schema_name(), "platform"
        else:
            tenant = get_tenant_model().objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant with slug {options['tenant']!r}.")
            schema_name, label = tenant.schema_name, f"tenant {tenant.slug}"
        anchor = anchor_latest(schema_name=schema_name)
        with schema_context(schema_name):
            report = chain_verify(anchor=anchor, batch_size=max(options["batch_size"], 1))
        if report.is_whole:
            self.stdout.write(self.style.SUCCESS(f"{label}: {report.summary()}"))
            if anchor is None and not options["platform"]:
                self.stdout.write(
                    "Not anchored yet: the anchoring task (every 5 minutes) copies the head "
                    "to public."
                )
            return
        self.stdout.write(self.style.ERROR(f"{label}: {report.summary()}"))
        if report.last_sequence is not None:
            self.stdout.write(f"Events #1 to #{report.last_sequence} are intact.")
        self.stdout.write(
            "Compare with a backup or an earlier export, and find who had superuser "
            "access to the database."
        )
        raise CommandError(f"The audit chain of {label} is broken.", returncode=BROKEN_EXIT_CODE)
