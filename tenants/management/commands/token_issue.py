import sys

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from mlgov.identity.errors import IdentityError
from mlgov.identity.services import DEFAULT_TOKEN_DAYS, token_issue
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Issue an API token and print it alone on stdout (shown once; only its hash is kept)."

    def add_arguments(self, parser):
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--tenant", help="tenant slug")
        where.add_argument("--platform", action="store_true", help="a platform operator's token")
        parser.add_argument("--user", required=True)
        parser.add_argument("--scope", choices=["read", "write", "admin"], default="read")
        parser.add_argument("--expires-days", type=int, default=DEFAULT_TOKEN_DAYS)
        parser.add_argument("--name", default="cli")

    def handle(self, *args, **options):
        schema = "public"
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant with slug {options['tenant']!r}.")
            schema = tenant.schema_name
        with schema_context(schema):
            user = User.objects.filter(username=options["user"], is_active=True).first()
            if user is None:
                raise CommandError(f"No active user {options['user']!r} in {schema!r}.")
            try:
                issued = token_issue(
                    acting_user=None,
                    user=user,
                    name=options["name"],
                    scope=options["scope"],
                    expires_days=options["expires_days"],
                )
            except IdentityError as error:
                raise CommandError(f"{error.code}: {error.message}") from None
        # The token alone on stdout so scripts can capture it; the rest on stderr.
        self.stdout.write(issued.plaintext)
        sys.stderr.write(
            f"Issued {options['scope']} token {issued.token.prefix}… for {user.username}, "
            f"expires {issued.token.expires_at:%Y-%m-%d}.\n"
        )
