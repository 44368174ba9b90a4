"""Console pages of the audit log: the events (filters, newest first, keyset pages), the
chain verification with its result, and CSV and JSON exports of what the filters select.

Only users with `audit.view_auditlog` (auditors and owners) know these pages exist: for
everyone else they are a 404. Verification needs `audit.verify_auditlog` too.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from mlgov.audit import selectors
from mlgov.audit.anchors import anchor_latest
from mlgov.audit.export import CONTENT_TYPES, audit_export_stream
from mlgov.audit.verify import chain_verify

PAGE_SIZE = 50
_MAX_SEQUENCE = 2**63 - 1
_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]
FINDING_LABELS = {
    "sequence_gap": _("An event is missing (deleted), or the chain does not start at #1."),
    "sequence_duplicate": _("Two events claim the same position (one was inserted)."),
    "broken_link": _("An event does not name the hash of the event before it."),
    "hash_mismatch": _("An event's content no longer matches its hash (it was edited)."),
    "anchor_mismatch": _("The chain no longer matches the copy of its head kept outside it."),
    "anchor_beyond_head": _("The chain ends before its last anchored event (events were removed)."),
}


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    action = forms.CharField(
        label=_("Action"),
        required=False,
        max_length=100,
        help_text=_("Exact, or a prefix ending in “.”, e.g. member."),
    )
    object_type = forms.CharField(label=_("Object type"), required=False, max_length=100)
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=100)
    occurred_from = forms.DateTimeField(
        label=_("From"),
        required=False,
        input_formats=_DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    occurred_to = forms.DateTimeField(
        label=_("Before"),
        required=False,
        input_formats=_DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("occurred_from"), data.get("occurred_to")
        if start and end and start >= end:
            self.add_error("occurred_to", _("Must be later than “From”."))
        return data

    def filters(self) -> selectors.AuditFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return selectors.AuditFilters(
            actor=data.get("actor") or None,
            action=data.get("action") or None,
            object_type=data.get("object_type") or None,
            object_id=data.get("object_id") or None,
            occurred_from=data.get("occurred_from"),
            occurred_to=data.get("occurred_to"),
        )


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_perm(selectors.VIEW_PERMISSION):
        raise Http404


def _compact(value) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    form = AuditFilterForm(request.GET or None)
    events = selectors.audit_event_list(acting_user=request.user, filters=form.filters())
    before = request.GET.get("before", "")
    if before.isdigit() and int(before) <= _MAX_SEQUENCE:
        events = events.filter(sequence__lt=int(before))
    rows = list(events[: PAGE_SIZE + 1])
    older = rows[PAGE_SIZE - 1].sequence if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    for event in rows:
        event.before_text = _compact(event.before)
        event.after_text = _compact(event.after)
    filter_query = request.GET.copy()
    filter_query.pop("before", None)
    return render(
        request,
        "audit/log.html",
        {
            "section": "audit",
            "form": form,
            "events": rows,
            "older": older,
            "paged": bool(before),
            "filtered": any(value for key, value in request.GET.items() if key != "before"),
            "filter_query": filter_query.urlencode(),
            "can_verify": request.user.has_perm(selectors.VERIFY_PERMISSION),
        },
    )


@login_required
@require_GET
def audit_verify(request: HttpRequest) -> HttpResponse:
    """Walk the whole chain now; htmx swaps the result into the log page."""
    _require_view(request)
    if not request.user.has_perm(selectors.VERIFY_PERMISSION):
        raise Http404
    report = chain_verify(anchor=anchor_latest(schema_name=connection.schema_name))
    context = {
        "section": "audit",
        "report": report.as_dict(),
        "finding_label": FINDING_LABELS.get(report.finding.reason, "") if report.finding else "",
        "checked_at": timezone.now(),
    }
    template = "audit/_verify_result.html" if request.htmx else "audit/verify.html"
    return render(request, template, context)


@login_required
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    """The events the filters select, in chain order, as a CSV or JSON download."""
    _require_view(request)
    file_format = request.GET.get("format", "csv")
    if file_format not in CONTENT_TYPES:
        file_format = "csv"
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(
            "Invalid filters.", status=400, content_type="text/plain; charset=utf-8"
        )
    stream = audit_export_stream(
        acting_user=request.user, filters=form.filters(), file_format=file_format
    )
    response = StreamingHttpResponse(stream, content_type=CONTENT_TYPES[file_format])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{request.tenant.slug}-{stamp}.{file_format}"'
    )
    response["Cache-Control"] = "no-store"
    return response
