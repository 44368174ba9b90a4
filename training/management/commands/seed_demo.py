from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from tenants.models import Tenant
from training.demo.seeding import seed_demo


class Command(BaseCommand):
    help = (
        "Register generated music-streaming data sets in a tenant (the demo tenant by default) "
        "and submit one training job per recipe through the real queue."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="demo")
        parser.add_argument("--user", default="maintainer")
        parser.add_argument("--no-jobs", action="store_true", help="register the data only")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}; `make run` creates 'demo'.")
        with schema_context(tenant.schema_name):
            user = User.objects.filter(username=options["user"], is_active=True).first()
            if user is None:
                raise CommandError(f"No active user {options['user']!r} in {tenant.slug!r}.")
            report = seed_demo(user=user, submit_jobs=not options["no_jobs"])
        self.stdout.write(f"Data sets: {', '.join(report.datasets)}")
        for job in report.jobs:
            self.stdout.write(f"  submitted {job}")
        if report.skipped:
            self.stdout.write(f"  already submitted earlier: {', '.join(report.skipped)}")
        self.stdout.write(
            f"Follow the jobs at /t/{tenant.slug}/api/v1/training-jobs/ (a training worker "
            "must be running: `make run` starts one)."
        )
