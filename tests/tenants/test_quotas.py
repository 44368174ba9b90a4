"""tenants/quotas.py: limits from the plan, months, and the API request-rate throttle."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.cache import cache

from tenants import quotas
from tenants.models import Plan


def test_quota_check_refuses_past_the_plans_limit(alpha):
    alpha.plan = Plan.objects.create(name="small", max_concurrent_jobs=2)
    quotas.quota_check(alpha, quotas.CONCURRENT_JOBS, used=1)
    with pytest.raises(quotas.QuotaExceeded) as raised:
        quotas.quota_check(alpha, quotas.CONCURRENT_JOBS, used=2)
    error = raised.value
    assert (error.status, error.code) == (403, "quota_exceeded")
    assert error.details == {"quota": "concurrent_jobs", "limit": 2, "used": 2}


def test_a_tenant_without_a_plan_has_no_limits(alpha):
    alpha.plan = None
    quotas.quota_check(alpha, quotas.MODEL_VERSIONS, used=10**9)


@pytest.mark.parametrize(
    ("text", "month"), [("2025-01", date(2025, 1, 1)), ("2024-12", date(2024, 12, 1))]
)
def test_months(text, month):
    assert quotas.parse_month(text) == month
    start, end = quotas.month_bounds(month)
    assert start.day == end.day == 1
    assert start < end
    assert (end - start).days in (28, 29, 30, 31)
    assert quotas.month_bounds(date(2024, 12, 1))[1] == datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture()
def throttled(alpha, settings):
    """The throttle on (it is off in the test suite), alpha at 3 requests a minute."""
    settings.MLGOV_API_THROTTLE = True
    alpha.plan = Plan.objects.create(name="slow", api_requests_per_minute=3)
    alpha.save(update_fields=["plan"])
    cache.clear()
    yield
    cache.clear()


def test_requests_past_the_plans_rate_get_429_quota_exceeded(alpha, beta, api_as, throttled):
    caller = api_as(alpha, "alice")
    statuses = [caller.get("api/v1/members/").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    # the fourth request within the minute
    response = caller.get("api/v1/members/")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert {k: error["details"][k] for k in ("quota", "limit", "used")} == {
        "quota": "api_requests_per_minute", "limit": 3, "used": 3,
    }
    assert 1 <= error["details"]["retry_after_seconds"] <= 61
    # another member of the same tenant shares the tenant's budget
    assert api_as(alpha, "victor").get("api/v1/training-jobs/").status_code == 429
    # and another tenant has its own budget
    assert api_as(beta, "carol").get("api/v1/members/").status_code == 200


def test_the_operators_api_is_not_counted_against_any_tenant(operator, platform_api, throttled):
    api = platform_api(operator)
    assert {api.get("api/v1/plans/").status_code for _ in range(6)} == {200}
