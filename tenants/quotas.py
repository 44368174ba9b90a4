"""Quotas from a tenant's plan, the usage ledger, and the API request-rate throttle.

Five quotas (tenants.Plan): concurrent jobs, CPU seconds per month, artifact storage
bytes, model versions, API requests per minute. This module knows the limits and the
public-schema ledger; the apps that consume a quota count their own use (jobs count
jobs) and ask `quota_check`. An allowance that is spent answers 403, a rate 429, both
`{"error": {"code": "quota_exceeded", "details": {"quota", "limit", "used"}}}`.

Storage is not a ledger of its own: it is the sum of the tenant's artifact sizes, read
from its schema's artifact table (found through the app registry, so `tenants` still
imports no higher app). The ledger also keeps the bytes each job's artifacts added.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Sum
from rest_framework.throttling import BaseThrottle

from mlgov.api.errors import DomainError
from tenants.models import Plan, Tenant, UsageRecord

CONCURRENT_JOBS = "concurrent_jobs"
CPU_SECONDS_PER_MONTH = "cpu_seconds_per_month"
ARTIFACT_STORAGE_BYTES = "artifact_storage_bytes"
MODEL_VERSIONS = "model_versions"
API_REQUESTS_PER_MINUTE = "api_requests_per_minute"

PLAN_FIELDS = {
    CONCURRENT_JOBS: "max_concurrent_jobs",
    CPU_SECONDS_PER_MONTH: "cpu_seconds_per_month",
    ARTIFACT_STORAGE_BYTES: "artifact_storage_bytes",
    MODEL_VERSIONS: "max_model_versions",
    API_REQUESTS_PER_MINUTE: "api_requests_per_minute",
}
_DESCRIPTIONS = {
    CONCURRENT_JOBS: "jobs queued or running at once",
    CPU_SECONDS_PER_MONTH: "CPU seconds this month",
    ARTIFACT_STORAGE_BYTES: "bytes of artifact storage",
    MODEL_VERSIONS: "model versions",
    API_REQUESTS_PER_MINUTE: "API requests per minute",
}
BYTES_PER_GB = 1024**3  # prices per "GB-month" are per GiB
_PLAN_CACHE_SECONDS = 30


class QuotaExceeded(Exception):
    """A quota of the tenant's plan would be passed. `status`: 403 allowance, 429 rate."""

    code = "quota_exceeded"

    def __init__(self, quota: str, *, limit: int, used: float | int, status: int = 403):
        self.quota = quota
        self.limit = limit
        self.used = used
        self.status = status
        self.message = (
            f"Quota exceeded: {_DESCRIPTIONS.get(quota, quota)} ({_number(used)} used of "
            f"{limit} allowed by the tenant's plan)."
        )
        super().__init__(self.message)

    @property
    def details(self) -> dict:
        return {"quota": self.quota, "limit": self.limit, "used": _number(self.used)}

    def as_domain_error(self) -> DomainError:
        return DomainError(
            status_code=self.status, code=self.code, message=self.message, details=self.details
        )


def _number(value: float | int | Decimal) -> float | int:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return round(value, 3) if isinstance(value, float) else value


# --- limits ------------------------------------------------------------------------------


def quota_limit(tenant: Tenant, quota: str) -> int | None:
    """The plan's limit for `quota`; None when the tenant has no plan (no limit)."""
    if tenant.plan_id is None:
        return None
    plan = tenant.plan if _plan_loaded(tenant) else Plan.objects.get(pk=tenant.plan_id)
    return int(getattr(plan, PLAN_FIELDS[quota]))


def _plan_loaded(tenant: Tenant) -> bool:
    return "plan" in tenant._state.fields_cache


def quota_check(tenant: Tenant, quota: str, *, used: float | int, needed: float | int = 1) -> None:
    """Raise QuotaExceeded (403) unless `used + needed` stays within the plan's limit."""
    limit = quota_limit(tenant, quota)
    if limit is not None and used + needed > limit:
        raise QuotaExceeded(quota, limit=limit, used=used)


# --- months ------------------------------------------------------------------------------


def parse_month(text: str | None) -> date:
    """`YYYY-MM` -> the first day of that month; None -> this month. ValueError otherwise."""
    if not text:
        today = datetime.now(UTC).date()
        return today.replace(day=1)
    try:
        parsed = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise ValueError("month must be YYYY-MM, for example 2025-01") from None
    if parsed.year < 2000:
        raise ValueError("month must be YYYY-MM from 2000 on")
    return parsed.date().replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[start, end) of the month in UTC."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    following = (month.year + (month.month == 12), month.month % 12 + 1)
    return start, datetime(following[0], following[1], 1, tzinfo=UTC)


# --- the ledger ------------------------------------------------------------------------


def usage_record(*, tenant: Tenant, kind: str, quantity: float | int, source: str) -> UsageRecord:
    """Append one ledger line (run inside the transaction of the change it accounts for)."""
    return UsageRecord.objects.create(
        tenant=tenant, kind=kind, quantity=Decimal(str(round(float(quantity), 3))), source=source
    )


def cpu_seconds_recorded(tenant: Tenant, month: date | None = None) -> float:
    """CPU seconds in the ledger for `month` (default: this month)."""
    start, end = month_bounds(month or parse_month(None))
    total = UsageRecord.objects.filter(
        tenant=tenant,
        kind=UsageRecord.Kind.CPU_SECONDS,
        recorded_at__gte=start,
        recorded_at__lt=end,
    ).aggregate(total=Sum("quantity"))["total"]
    return float(total or 0)


def _artifact_table() -> str:
    return apps.get_model("registry", "Artifact")._meta.db_table


def storage_bytes_by_schema(schemas: list[str], *, before: datetime | None = None) -> dict:
    """schema -> bytes of its artifacts (created before `before`, if given), in one query.

    Schema-qualified, never through search_path: this runs from `public` for many tenants.
    """
    if not schemas:
        return {}
    quote = connection.ops.quote_name
    table = quote(_artifact_table())
    parts: list[str] = []
    params: list = []
    for schema in schemas:
        where = " WHERE created_at < %s" if before is not None else ""
        parts.append(
            f"SELECT %s, COALESCE(SUM(size_bytes), 0) FROM {quote(schema)}.{table}{where}"
        )
        params += [schema, before] if before is not None else [schema]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return {schema: int(total) for schema, total in cursor.fetchall()}


def storage_bytes_used(tenant: Tenant) -> int:
    """Bytes the tenant's artifacts take now."""
    return storage_bytes_by_schema([tenant.schema_name]).get(tenant.schema_name, 0)


# --- cost allocation -----------------------------------------------------------------------


@dataclass(frozen=True)
class MonthlyUsage:
    tenant: Tenant
    month: date
    cpu_seconds: Decimal
    storage_bytes: int  # held at the month's end (now, for the current month)
    storage_bytes_recorded: Decimal  # added by jobs during the month (ledger)
    cpu_cost: Decimal
    storage_cost: Decimal

    @property
    def total_cost(self) -> Decimal:
        return self.cpu_cost + self.storage_cost


_CENT = Decimal("0.0001")


def monthly_usage(tenants: list[Tenant], month: date) -> list[MonthlyUsage]:
    """Usage and cost of each tenant in `month`: CPU seconds x the plan's price per CPU
    hour, storage held at the month's end x its price per GB-month. Three queries."""
    start, end = month_bounds(month)
    ledger = (
        UsageRecord.objects.filter(
            tenant__in=[t.pk for t in tenants], recorded_at__gte=start, recorded_at__lt=end
        )
        .values("tenant_id", "kind")
        .annotate(total=Sum("quantity"))
    )
    sums: dict[tuple[int, str], Decimal] = {
        (row["tenant_id"], row["kind"]): row["total"] for row in ledger
    }
    as_of = min(end, datetime.now(UTC))
    storage = storage_bytes_by_schema([t.schema_name for t in tenants], before=as_of)
    usages = []
    for tenant in tenants:
        cpu = sums.get((tenant.pk, UsageRecord.Kind.CPU_SECONDS), Decimal(0))
        stored = storage.get(tenant.schema_name, 0)
        plan = tenant.plan
        cpu_price = plan.price_per_cpu_hour if plan else Decimal(0)
        gb_price = plan.price_per_gb_month if plan else Decimal(0)
        usages.append(
            MonthlyUsage(
                tenant=tenant,
                month=month,
                cpu_seconds=cpu,
                storage_bytes=stored,
                storage_bytes_recorded=sums.get(
                    (tenant.pk, UsageRecord.Kind.STORAGE_BYTES), Decimal(0)
                ),
                cpu_cost=(cpu / 3600 * cpu_price).quantize(_CENT),
                storage_cost=(Decimal(stored) / BYTES_PER_GB * gb_price).quantize(_CENT),
            )
        )
    return usages


# --- API requests per minute ---------------------------------------------------------------


def _requests_per_minute(tenant: Tenant) -> int | None:
    """The plan's rate, cached briefly (no query on most requests)."""
    if tenant.plan_id is None:
        return None
    key = f"quota:plan-rate:{tenant.plan_id}"
    rate = cache.get(key)
    if rate is None:
        rate = Plan.objects.filter(pk=tenant.plan_id).values_list(
            PLAN_FIELDS[API_REQUESTS_PER_MINUTE], flat=True
        ).first()
        if rate is None:
            return None
        cache.set(key, rate, _PLAN_CACHE_SECONDS)
    return int(rate)


class TenantRequestRateThrottle(BaseThrottle):
    """Counts a tenant's API requests in fixed one-minute windows in the Django cache
    (the key names the tenant's schema) and answers 429 `quota_exceeded` past the plan's
    rate. Requests outside a tenant (the operators' API) are not counted."""

    def allow_request(self, request, view) -> bool:
        if not settings.MLGOV_API_THROTTLE:
            return True
        tenant = getattr(request, "tenant", None)
        if not isinstance(tenant, Tenant):
            return True
        limit = _requests_per_minute(tenant)
        if limit is None:
            return True
        now = time.time()
        window = int(now // 60)
        key = f"quota:api-requests:{tenant.schema_name}:{window}"
        cache.add(key, 0, timeout=120)
        try:
            used = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout=120)
            used = 1
        if used > limit:
            error = QuotaExceeded(API_REQUESTS_PER_MINUTE, limit=limit, used=used - 1, status=429)
            domain = error.as_domain_error()
            domain.details["retry_after_seconds"] = int(60 - now % 60) + 1
            raise domain
        return True
