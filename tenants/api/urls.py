from rest_framework.routers import DefaultRouter

from tenants.api.views import PlanViewSet, TenantViewSet

router = DefaultRouter()
router.register("tenants", TenantViewSet, basename="platform-tenant")
router.register("plans", PlanViewSet, basename="platform-plan")

urlpatterns = router.urls
