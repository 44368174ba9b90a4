"""Public schema URLs: health, the operators' platform API, the Django admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mlgov.api.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("tenants.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="platform-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="platform-schema"),
        name="platform-docs",
    ),
    path("admin/", admin.site.urls),
]

handler400 = "mlgov.api.errors.json_or_html_400"
handler403 = "mlgov.api.errors.json_or_html_403"
handler404 = "mlgov.api.errors.json_or_html_404"
handler500 = "mlgov.api.errors.json_or_html_500"
