"""Console pages of registered models and their versions: the model list, one model with its
versions, one version (model card, metrics, signature, verification, stage and alias
history), the model card form (for holders of `change`) and the file download (for holders
of `download`)."""

from __future__ import annotations

import json
import re

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Max, Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from registry import permissions
from registry.console.pages import page_of
from registry.models import ModelCard, ModelVersion, RegisteredModel
from registry.selectors import models as selectors
from registry.selectors import runs as run_selectors
from registry.services import versions as services
from registry.services.models import RegistryError

_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {"skops": "skops", "pickle": "pkl", "joblib": "joblib", "onnx": "onnx"}
CARD_FIELD_MAX = 20_000
HISTORY_LIMIT = 200

CARD_LABELS = {
    "intended_use": gettext_lazy("Intended use"),
    "out_of_scope_use": gettext_lazy("Out-of-scope use"),
    "training_data": gettext_lazy("Training data"),
    "evaluation_data": gettext_lazy("Evaluation data"),
    "limitations": gettext_lazy("Limitations"),
    "ethical_considerations": gettext_lazy("Ethical considerations"),
    "owners": gettext_lazy("Owners and contacts"),
}


class ModelCardForm(forms.Form):
    """The card's fields as text areas; every field may stay blank."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ModelCard.FIELDS:
            self.fields[name] = forms.CharField(
                label=CARD_LABELS[name],
                required=False,
                max_length=CARD_FIELD_MAX,
                widget=forms.Textarea(attrs={"rows": 3}),
            )


def _visible_model(request: HttpRequest, model_pk: int) -> RegisteredModel:
    model = selectors.registered_model_list(acting_user=request.user).filter(pk=model_pk).first()
    if model is None:
        raise Http404
    return model


def _visible_version(request: HttpRequest, model_pk: int, version: int) -> ModelVersion:
    found = (
        selectors.model_version_list(acting_user=request.user, model_id=model_pk)
        .filter(version=version)
        .first()
    )
    if found is None:
        raise Http404
    return found


@login_required
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    models = selectors.registered_model_list(acting_user=request.user).annotate(
        production_version=Max(
            "versions__version", filter=Q(versions__stage=ModelVersion.Stage.PRODUCTION)
        )
    )
    if query:
        models = models.filter(name__icontains=query)
    return render(
        request,
        "registry/model_list.html",
        {
            "section": "models",
            "page": page_of(request, models),
            "query": query,
            "can_add": request.user.has_perm("registry.add_registeredmodel"),
        },
    )


@login_required
@require_GET
def model_detail(request: HttpRequest, model_pk: int) -> HttpResponse:
    model = _visible_model(request, model_pk)
    versions = selectors.model_version_list(acting_user=request.user, model_id=model.pk)
    return render(
        request,
        "registry/model_detail.html",
        {"section": "models", "model": model, "page": page_of(request, versions)},
    )


def _signature_rows(signature) -> dict[str, list[dict]] | None:
    """`{"inputs": [{name, type}], "outputs": [...]}` as table rows; None for another shape
    (then the page shows the JSON as it is)."""
    if not isinstance(signature, dict):
        return None
    rows: dict[str, list[dict]] = {}
    for part in ("inputs", "outputs"):
        items = signature.get(part, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            return None
        rows[part] = [
            {"name": str(item.get("name", "")), "type": str(item.get("type", ""))}
            for item in items
        ]
    return rows


def _metric_rows(metrics) -> list[dict]:
    if not isinstance(metrics, dict):
        return []
    rows = []
    for key in sorted(metrics):
        value = metrics[key]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        rows.append(
            {"key": key, "value": value if number else json.dumps(value), "number": number}
        )
    return rows


@login_required
@require_GET
def model_version_detail(request: HttpRequest, model_pk: int, version: int) -> HttpResponse:
    found = _visible_version(request, model_pk, version)
    model = found.registered_model
    card = selectors.model_card_get(version=found)
    run_visible = found.run_id is not None and (
        run_selectors.run_list(acting_user=request.user, lifecycle_stage="all")
        .filter(pk=found.run_id)
        .exists()
    )
    return render(
        request,
        "registry/model_version.html",
        {
            "section": "models",
            "model": model,
            "version": found,
            "card": card,
            "card_fields": [
                (CARD_LABELS[name], getattr(card, name, "") if card else "")
                for name in ModelCard.FIELDS
            ],
            "metrics": _metric_rows(found.metrics),
            "signature": _signature_rows(found.signature),
            "signature_json": json.dumps(found.signature, indent=2, sort_keys=True),
            "transitions": selectors.stage_transition_list(version=found)[:HISTORY_LIMIT],
            "run_visible": run_visible,
            "can_change": permissions.has_object_permission(request.user, model, "change"),
            "can_download": found.artifact_id is not None
            and permissions.has_object_permission(request.user, model, "download"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def model_card_edit(request: HttpRequest, model_pk: int, version: int) -> HttpResponse:
    found = _visible_version(request, model_pk, version)
    if not permissions.has_object_permission(request.user, found.registered_model, "change"):
        raise PermissionDenied
    if request.method == "POST":
        form = ModelCardForm(request.POST)
        if form.is_valid():
            services.model_card_put(acting_user=request.user, version=found, **form.cleaned_data)
            messages.success(request, _("The model card was saved."))
            return redirect("console-model-version", model_pk=model_pk, version=version)
    else:
        card = selectors.model_card_get(version=found)
        form = ModelCardForm(initial=services.model_card_fields(card))
    return render(
        request,
        "registry/model_card_form.html",
        {"section": "models", "model": found.registered_model, "version": found, "form": form},
    )


@login_required
@require_GET
def model_version_download(request: HttpRequest, model_pk: int, version: int):
    found = _visible_version(request, model_pk, version)
    if not permissions.has_object_permission(request.user, found.registered_model, "download"):
        raise PermissionDenied
    try:
        chunks = services.model_version_download(acting_user=request.user, version=found)
    except RegistryError:
        # No file, or one that fails its authentication: say so on the version's page.
        messages.error(request, _("The model file could not be read; it was not sent."))
        return redirect("console-model-version", model_pk=model_pk, version=version)
    name = _UNSAFE_FILE_CHARS.sub("_", found.registered_model.name)[:100] or "model"
    extension = _EXTENSIONS.get(found.model_format, "bin")
    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-v{found.version}.{extension}"'
    )
    response["X-Content-SHA256"] = found.sha256
    response["Cache-Control"] = "no-store"
    return response
