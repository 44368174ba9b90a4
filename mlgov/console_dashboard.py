"""The console's dashboard (the tenant's home page): what the user may see in figures, the
latest runs and model versions, and the latest stage and alias changes.

It reads several apps, so it lives in mlgov's top (DESIGN.md). Every figure and list goes
through the registry's selectors, restricted to what the user may see; training jobs,
promotions and quotas join it when their issues land.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from mlgov.audit import selectors as audit_selectors
from registry.selectors import activity, datasets, experiments, models, runs

RECENT = 8


def _figures(user) -> list[dict]:
    return [
        {"key": "datasets", "count": datasets.dataset_list(acting_user=user).count(),
         "url_name": "console-datasets"},
        {"key": "experiments",
         "count": experiments.experiment_list(acting_user=user, lifecycle_stage="active").count(),
         "url_name": "console-experiments"},
        {"key": "runs", "count": runs.run_list(acting_user=user).count(),
         "url_name": "console-experiments"},
        {"key": "models", "count": models.visible_models(acting_user=user).count(),
         "url_name": "console-models"},
        {"key": "model_versions", "count": models.model_version_list(acting_user=user).count(),
         "url_name": "console-models"},
    ]


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    figures = _figures(user)
    recent_runs = (
        runs.run_list(acting_user=user)
        .select_related("experiment")
        .order_by("-start_time", "-id")[:RECENT]
    )
    recent_versions = models.model_version_list(acting_user=user).order_by("-created_at", "-id")[
        :RECENT
    ]
    stage_changes = activity.stage_transition_recent(acting_user=user, limit=RECENT)
    can_audit = user.has_perm(audit_selectors.VIEW_PERMISSION)
    return render(
        request,
        "console/dashboard.html",
        {
            "section": "dashboard",
            "figures": figures,
            "nothing_yet": not any(figure["count"] for figure in figures),
            "recent_runs": recent_runs,
            "recent_versions": recent_versions,
            "stage_changes": stage_changes,
            "audit_head": audit_selectors.chain_head() if can_audit else None,
            "can_audit": can_audit,
            "can_add": user.has_perm("registry.add_experiment"),
        },
    )
