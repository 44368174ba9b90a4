from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Members, roles and API tokens. Listed in SHARED_APPS (operators, in `public`)
    and TENANT_APPS (each tenant's own users): a user of one tenant does not exist in another."""

    name = "mlgov.identity"
    label = "identity"
    verbose_name = "Identity and access"
