"""Console sign-in, sign-out and password change (the home page is mlgov/console_dashboard.py)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from mlgov.identity import services
from mlgov.identity.models import Membership


class TenantLoginView(auth_views.LoginView):
    template_name = "identity/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        membership = Membership.objects.filter(user=form.get_user()).first()
        if membership is not None and membership.must_change_password:
            return redirect("password-change")
        return response

    # Failed sign-ins are audited by mlgov.audit.receivers (every authenticate() caller).


class TenantLogoutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "identity/password_change.html"
    success_url = reverse_lazy("console-home")

    @transaction.atomic
    def form_valid(self, form):
        response = super().form_valid(form)
        services.member_password_changed(acting_user=self.request.user)
        return response


def lockout_response(request, credentials, *args, **kwargs) -> HttpResponse:
    """django-axes calls this when sign-in is throttled."""
    return render(request, "identity/locked_out.html", status=429)
