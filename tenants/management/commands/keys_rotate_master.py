from django.core.management.base import BaseCommand
from django.db import transaction

from mlgov.audit.recorder import record_event
from tenants.keys import keys_remaining_on_old_versions, master_key_rewrap_all


class Command(BaseCommand):
    help = (
        "Rewrap every tenant key under the newest MLGOV_MASTER_KEY version. Resumable and "
        "idempotent: run it again after an interruption."
    )

    def handle(self, *args, **options):
        count = 0

        def progress(row):
            nonlocal count
            count += 1
            if count % 100 == 0:
                self.stdout.write(f"  rewrapped {count} keys…")

        result = master_key_rewrap_all(on_row=progress)
        with transaction.atomic():
            record_event(
                actor=None,
                action="keys.master_rotate",
                object_type="master_key",
                object_id=result.target_kek_version,
                after={"rewrapped": result.rewrapped},
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Rewrapped {result.rewrapped} keys under master key v{result.target_kek_version} "
                f"({result.already_current} were already current)."
            )
        )
        remaining = keys_remaining_on_old_versions()
        if remaining:
            self.stdout.write(f"Still on older versions: {remaining}. Run this command again.")
        else:
            self.stdout.write(
                "No key uses an older master key version: remove those versions from "
                "MLGOV_MASTER_KEY and restart."
            )
