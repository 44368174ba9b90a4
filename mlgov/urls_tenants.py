"""Tenant URLs, served under /t/<slug>/ (the middleware moves the prefix into the script name)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from mlgov import console_dashboard
from mlgov.api.schema import TenantSchemaView
from mlgov.audit.api.views import AuditEventViewSet
from mlgov.identity import views as identity_views
from mlgov.identity.api.views import MemberViewSet, TokenViewSet
from registry.api import routes as registry_routes
from tenants.api.usage import TenantUsageViewSet
from training.api.views import TrainingJobViewSet

router = DefaultRouter()
router.register("members", MemberViewSet, basename="member")
router.register("tokens", TokenViewSet, basename="token")
router.register("audit", AuditEventViewSet, basename="audit")
registry_routes.register(router)
router.register("training-jobs", TrainingJobViewSet, basename="training-job")
router.register("usage", TenantUsageViewSet, basename="tenant-usage")

urlpatterns = [
    path("", console_dashboard.dashboard, name="console-home"),
    path("login/", identity_views.TenantLoginView.as_view(), name="login"),
    path("logout/", identity_views.TenantLogoutView.as_view(), name="logout"),
    path("password/", identity_views.PasswordChangeView.as_view(), name="password-change"),
    path("api/v1/", include(router.urls)),
    path("api/v1/", include(registry_routes.extra_urlpatterns())),
    path("api/schema/", TenantSchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # The MLflow-compatible API (the stock mlflow client): registry/mlflow_api/.
    path("mlflow/", include("registry.mlflow_api.urls")),
    # The console's pages, one URLconf per app.
    path("", include("registry.console.urls")),
    path("", include("mlgov.audit.console_urls")),
    path("", include("mlgov.identity.console_urls")),
]

handler400 = "mlgov.api.errors.json_or_html_400"
handler403 = "mlgov.api.errors.json_or_html_403"
handler404 = "mlgov.api.errors.json_or_html_404"
handler500 = "mlgov.api.errors.json_or_html_500"
