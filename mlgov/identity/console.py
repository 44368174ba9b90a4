"""Console pages of members and API tokens.

Members: users with `identity.view_members` see the list (others get a 404); owners
(`identity.manage_members`) add members, change roles, reset passwords and deactivate
(others get a 403 and are never offered the forms). Tokens: every member manages their own.
A new token or one-time password is shown once, in the response to the form that made it,
and never stored anywhere but as a hash.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language

from mlgov.identity import roles, selectors, services
from mlgov.identity.console_context import ROLE_LABELS
from mlgov.identity.errors import IdentityError
from mlgov.identity.models import ApiToken

VIEW_MEMBERS = "identity.view_members"
MANAGE_MEMBERS = "identity.manage_members"
PAGE_SIZE = 50

# Service refusals in the user's language (the services' own messages are English).
ERROR_MESSAGES = {
    "username_taken": gettext_lazy("A member with this user name exists already."),
    "last_owner": gettext_lazy("The workspace keeps at least one active owner."),
    "unknown_role": gettext_lazy("Choose one of the roles."),
    "scope_too_wide": gettext_lazy("You cannot issue a token with this scope."),
    "invalid_expiry": gettext_lazy("Tokens expire after 1 to 366 days."),
    "service_account_password": gettext_lazy(
        "Service accounts sign in with API tokens only; they have no password."
    ),
}
SCOPE_LABELS = {
    ApiToken.Scope.READ: gettext_lazy("Read"),
    ApiToken.Scope.WRITE: gettext_lazy("Read and write"),
    ApiToken.Scope.ADMIN: gettext_lazy("Read, write and administer"),
}
ROLE_CHOICES = [(role, ROLE_LABELS[role]) for role in roles.ROLES]


def _error_text(error: IdentityError) -> str:
    return str(ERROR_MESSAGES.get(error.code, error.message))


class MemberCreateForm(forms.Form):
    username = forms.RegexField(
        label=gettext_lazy("User name"),
        regex=r"^[A-Za-z0-9_.@+-]{1,150}$",
        max_length=150,
        help_text=gettext_lazy("Letters, digits and _ . @ + - only."),
    )
    email = forms.EmailField(label=gettext_lazy("Email"), required=False)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=ROLE_CHOICES)
    service_account = forms.BooleanField(
        label=gettext_lazy("Service account (signs in with API tokens only)"), required=False
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=ROLE_CHOICES)


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("Where you will use it, e.g. “laptop notebook”."),
    )
    scope = forms.ChoiceField(
        label=gettext_lazy("Scope"), choices=list(SCOPE_LABELS.items()), initial="read"
    )
    expires_days = forms.IntegerField(
        label=gettext_lazy("Expires after (days)"),
        min_value=1,
        max_value=services.MAX_TOKEN_DAYS,
        initial=services.DEFAULT_TOKEN_DAYS,
    )


@login_required
@require_GET
def access_home(request: HttpRequest) -> HttpResponse:
    """The navigation's "Members & tokens": members for those who may see them, else tokens."""
    return redirect("console-members" if request.user.has_perm(VIEW_MEMBERS) else "console-tokens")


def _members_page(request: HttpRequest, *, form=None, revealed=None, status: int = 200):
    if not request.user.has_perm(VIEW_MEMBERS):
        raise Http404
    can_manage = request.user.has_perm(MANAGE_MEMBERS)
    page = Paginator(selectors.member_list(acting_user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for member in page.object_list:
        member.role_name = roles.role_of(member)  # groups are prefetched
        member.role_label = ROLE_LABELS.get(member.role_name or "", "")
    response = render(
        request,
        "identity/members.html",
        {
            "section": "access",
            "page": page,
            "can_manage": can_manage,
            "form": form if form is not None else (MemberCreateForm() if can_manage else None),
            "role_choices": ROLE_CHOICES,
            "revealed": revealed,
        },
        status=status,
    )
    if revealed:
        response["Cache-Control"] = "no-store"  # a one-time password must not be cached
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def member_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _members_page(request)
    if not request.user.has_perm(VIEW_MEMBERS):
        raise Http404
    if not request.user.has_perm(MANAGE_MEMBERS):
        raise PermissionDenied
    form = MemberCreateForm(request.POST)
    if not form.is_valid():
        return _members_page(request, form=form, status=400)
    try:
        created = services.member_create(acting_user=request.user, **form.cleaned_data)
    except IdentityError as error:
        form.add_error(None, _error_text(error))
        return _members_page(request, form=form, status=400)
    return _members_page(
        request,
        revealed={"username": created.user.username, "password": created.one_time_password},
    )


def _managed_member(request: HttpRequest, pk: int) -> User:
    """A member the owner acts on: 404 for those who may not see members, 403 for those who
    may see but not manage them."""
    if not request.user.has_perm(VIEW_MEMBERS):
        raise Http404
    member = selectors.member_list(acting_user=request.user).filter(pk=pk).first()
    if member is None:
        raise Http404
    if not request.user.has_perm(MANAGE_MEMBERS):
        raise PermissionDenied
    return member


@login_required
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    member = _managed_member(request, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the roles."))
        return redirect("console-members")
    try:
        services.member_set_role(
            acting_user=request.user, member=member, role=form.cleaned_data["role"]
        )
    except IdentityError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(
            request,
            _("%(name)s is now %(role)s.")
            % {"name": member.username, "role": ROLE_LABELS[form.cleaned_data["role"]]},
        )
    return redirect("console-members")


@login_required
@require_POST
def member_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    member = _managed_member(request, pk)
    try:
        services.member_deactivate(acting_user=request.user, member=member)
    except IdentityError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(
            request,
            _("%(name)s was deactivated and their API tokens revoked.") % {"name": member.username},
        )
    return redirect("console-members")


@never_cache
@login_required
@require_POST
def member_reset_password(request: HttpRequest, pk: int) -> HttpResponse:
    member = _managed_member(request, pk)
    try:
        password = services.member_reset_password(acting_user=request.user, member=member)
    except IdentityError as error:
        messages.error(request, _error_text(error))
        return redirect("console-members")
    return _members_page(request, revealed={"username": member.username, "password": password})


def _tokens_page(request: HttpRequest, *, form=None, issued=None, status: int = 200):
    page = Paginator(selectors.token_list(acting_user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    response = render(
        request,
        "identity/tokens.html",
        {
            "section": "access",
            "page": page,
            "form": form or TokenCreateForm(),
            "issued": issued,
            "scope_labels": SCOPE_LABELS,
            "can_view_members": request.user.has_perm(VIEW_MEMBERS),
        },
        status=status,
    )
    if issued:
        response["Cache-Control"] = "no-store"  # the token is shown once and never cached
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _tokens_page(request)
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form=form, status=400)
    try:
        issued = services.token_issue(
            acting_user=request.user, user=request.user, **form.cleaned_data
        )
    except IdentityError as error:
        form.add_error(None, _error_text(error))
        return _tokens_page(request, form=form, status=400)
    return _tokens_page(request, issued={"token": issued.token, "plaintext": issued.plaintext})


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.token_list(acting_user=request.user).filter(pk=pk).first()
    if token is None:
        raise Http404  # another person's token does not exist for this user
    services.token_revoke(acting_user=request.user, token=token)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("console-tokens")


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """Django's set_language (the header's EN/DE buttons, the sign-in page's too); a request
    without a safe `next` goes back to the tenant's home, not to the host's root."""
    response = set_language(request)
    if response.status_code in (204, 302) and response.get("Location", "/") == "/":
        return redirect(reverse("console-home"))
    return response
