from rest_framework.routers import DefaultRouter

from tenants.api.usage import PlatformUsageViewSet
from tenants.api.views import PlanViewSet, TenantViewSet

router = DefaultRouter()
router.register("tenants", TenantViewSet, basename="platform-tenant")
router.register("plans", PlanViewSet, basename="platform-plan")
router.register("usage", PlatformUsageViewSet, basename="platform-usage")

urlpatterns = router.urls
