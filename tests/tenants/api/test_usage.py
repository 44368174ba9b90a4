"""Usage and cost: operators at /api/v1/usage/, a tenant's owners at /t/<slug>/api/v1/usage/."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from tenants.models import Plan, UsageRecord
from tests.conftest import user_in

THIS_MONTH = datetime.now(UTC).strftime("%Y-%m")


@pytest.fixture()
def priced(alpha, beta):
    """alpha on a priced plan: 1.80 per CPU hour, 2.00 per GB-month; 1 h of CPU this month,
    2 h last year; a 1 KiB-ish dataset file stored."""
    from registry.services.datasets import dataset_create, dataset_version_create

    plan = Plan.objects.create(
        name="priced", price_per_cpu_hour=Decimal("1.80"), price_per_gb_month=Decimal("2.00")
    )
    alpha.plan = plan
    alpha.save(update_fields=["plan"])
    UsageRecord.objects.create(tenant=alpha, kind="cpu_seconds", quantity=Decimal("1800"))
    UsageRecord.objects.create(tenant=alpha, kind="cpu_seconds", quantity=Decimal("1800"))
    old = UsageRecord.objects.create(tenant=alpha, kind="cpu_seconds", quantity=Decimal("7200"))
    UsageRecord.objects.filter(pk=old.pk).update(recorded_at=datetime(2024, 3, 5, tzinfo=UTC))
    UsageRecord.objects.create(tenant=beta, kind="cpu_seconds", quantity=Decimal("36"))
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        dataset = dataset_create(acting_user=alice, name="usage")
        version = dataset_version_create(
            acting_user=alice, dataset=dataset, content=[b"a,b\n" + b"1,2\n" * 256],
            file_format="csv", max_bytes=10_000,
        )
    return version.artifact.size_bytes


def _row(rows, slug):
    (row,) = [row for row in rows if row["tenant"] == slug]
    return row


def test_an_operator_reads_every_tenants_usage_and_cost_for_a_month(
    alpha, beta, operator, platform_api, priced
):
    body = platform_api(operator, scope="read").get(f"api/v1/usage/?month={THIS_MONTH}").json()
    alpha_row = _row(body["results"], "alpha")
    storage_cost = Decimal(priced) / 1024**3 * 2
    assert alpha_row["month"] == THIS_MONTH
    assert alpha_row["plan"] == "priced"
    assert Decimal(alpha_row["cpu_seconds"]) == Decimal(3600)
    assert Decimal(alpha_row["cpu_cost"]) == Decimal("1.8000")
    assert alpha_row["storage_bytes"] == priced
    assert Decimal(alpha_row["storage_cost"]) == storage_cost.quantize(Decimal("0.0001"))
    assert Decimal(alpha_row["total_cost"]) == Decimal(alpha_row["cpu_cost"]) + Decimal(
        alpha_row["storage_cost"]
    )
    assert Decimal(_row(body["results"], "beta")["cpu_seconds"]) == Decimal(36)


def test_a_past_month_counts_that_months_ledger_and_what_was_stored_then(
    alpha, operator, platform_api, priced
):
    body = platform_api(operator).get("api/v1/usage/?month=2024-03&tenant=alpha").json()
    (row,) = body["results"]
    assert Decimal(row["cpu_seconds"]) == Decimal(7200)
    assert Decimal(row["cpu_cost"]) == Decimal(
        "3.6000"
    )
    assert row["storage_bytes"] == 0  # the dataset file came later


@pytest.mark.parametrize("month", ["2025-13", "march", "1999-01", "2025-1-1"])
def test_a_malformed_month_is_400(operator, platform_api, month):
    response = platform_api(operator).get(f"api/v1/usage/?month={month}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_month"


def test_only_operators_read_platform_usage(alpha, api_as, platform_api, db):
    assert platform_api(None).get("api/v1/usage/").status_code == 401
    alice = api_as(alpha, "alice").authorization
    response = platform_api(None).client.get("/api/v1/usage/", HTTP_AUTHORIZATION=alice)
    assert response.status_code == 401


def test_an_owner_reads_their_own_tenants_usage_with_the_plans_limits(
    alpha, api_as, priced
):
    body = api_as(alpha, "alice", scope="read").get(f"api/v1/usage/?month={THIS_MONTH}").json()
    assert body["tenant"] == "alpha"
    assert Decimal(body["cpu_seconds"]) == Decimal(3600)
    assert body["storage_bytes"] == priced
    assert body["limits"]["cpu_seconds_per_month"] == 36_000
    assert body["limits"]["price_per_cpu_hour"] == "1.8000"


@pytest.mark.parametrize("username", ["mia", "rita", "audrey", "victor", "bob"])
def test_other_members_may_not_read_usage(alpha, api_as, username):
    response = api_as(alpha, username).get("api/v1/usage/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_another_tenants_owner_reads_only_their_own(alpha, beta, api_as, priced):
    assert api_as(alpha, "carol", token_tenant=beta).get("api/v1/usage/").status_code == 401
    body = api_as(beta, "carol").get("api/v1/usage/").json()
    assert body["tenant"] == "beta"
    assert Decimal(body["cpu_seconds"]) == Decimal(36)
    assert body["storage_bytes"] == 0
