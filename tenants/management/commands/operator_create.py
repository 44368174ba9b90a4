from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from mlgov.audit.recorder import record_event
from mlgov.identity.services import generate_password


class Command(BaseCommand):
    help = "Create a platform operator (a staff user of the public schema) and print its password."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--superuser", action="store_true", help="also a Django admin superuser"
        )

    def handle(self, *args, **options):
        if User.objects.filter(username=options["username"]).exists():
            raise CommandError(f"Operator {options['username']!r} exists already.")
        password = generate_password()
        with transaction.atomic():
            user = User.objects.create_user(
                username=options["username"],
                email=options["email"],
                password=password,
                is_staff=True,
                is_superuser=options["superuser"],
            )
            record_event(
                actor=None,
                action="operator.create",
                object_type="user",
                object_id=user.pk,
                after={"username": user.username},
            )
        self.stdout.write(self.style.SUCCESS(f"Created operator {user.username!r}."))
        self.stdout.write(f"Password: {password}")
        self.stdout.write(
            f"Next: manage.py token_issue --platform --user {user.username} --scope admin"
        )
