"""OpenAPI descriptions of mlgov's authentication schemes (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "mlgov.identity.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "mlg_<prefix>_<secret>"}


class BasicTokenScheme(OpenApiAuthenticationExtension):
    target_class = "mlgov.identity.authentication.BasicTokenAuthentication"
    name = "basicToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic", "description": "An API token as the password."}


class ConsoleSessionScheme(OpenApiAuthenticationExtension):
    target_class = "mlgov.identity.authentication.ConsoleSessionAuthentication"
    name = "consoleSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class TenantSchemaView(SpectacularAPIView):
    """The tenant's OpenAPI document, with its /t/<slug>/ server so "Try it out" works."""

    urlconf = "mlgov.urls_tenants"

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        tenant_path = getattr(request, "tenant_path", None)
        if tenant_path and isinstance(response.data, dict):
            response.data["servers"] = [{"url": tenant_path.rstrip("/")}]
        return response
