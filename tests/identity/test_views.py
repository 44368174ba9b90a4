"""Console sign-in: CSRF, a session cookie scoped to the tenant's path, throttling,
password validators, one-time passwords, and an audit trail of failures."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from mlgov.identity.models import Membership
from tests.conftest import PASSWORD, user_in

LOGIN = "/t/alpha/login/"


def set_password(tenant, username: str, password: str = PASSWORD, *, must_change=False) -> None:
    with schema_context(tenant.schema_name):
        user = user_in(tenant, username)
        user.set_password(password)
        user.save(update_fields=["password"])
        Membership.objects.filter(user=user).update(must_change_password=must_change)


def csrf_token_of(response) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)
    assert match, "the form carries no CSRF token"
    return match.group(1).decode()


def test_login_page_carries_a_csrf_token_scoped_to_the_tenant(alpha):
    # given an anonymous visitor / when they open alpha's sign-in page
    response = Client().get(LOGIN)
    # then the form has a CSRF token and the CSRF cookie belongs to /t/alpha/ only
    assert response.status_code == 200
    assert csrf_token_of(response)
    cookie = response.cookies[settings.CSRF_COOKIE_NAME]
    assert cookie["path"] == "/t/alpha/"
    assert cookie["httponly"]


def test_login_without_csrf_token_is_refused(alpha):
    # given mia's right password and a client that enforces CSRF like a browser
    set_password(alpha, "mia")
    client = Client(enforce_csrf_checks=True)
    client.get(LOGIN)
    # when the form is posted without its token
    response = client.post(LOGIN, {"username": "mia", "password": PASSWORD})
    # then 403, and no session
    assert response.status_code == 403
    assert "sessionid" not in response.cookies


def test_login_with_csrf_token_sets_a_session_cookie_for_the_tenant_path(alpha):
    # given mia's password and the sign-in form with its token
    set_password(alpha, "mia")
    client = Client(enforce_csrf_checks=True)
    token = csrf_token_of(client.get(LOGIN))
    # when she signs in
    response = client.post(
        LOGIN, {"username": "mia", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    # then she is signed in, with a session cookie that only /t/alpha/ receives
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["path"] == "/t/alpha/"
    assert session["httponly"]
    assert session["samesite"] == "Lax"
    assert client.get("/t/alpha/").status_code == 200


def test_logout_clears_the_cookie_on_the_tenant_path(alpha, console_login):
    # given mia signed in / when she signs out
    client = console_login(alpha, "mia")
    response = client.post("/t/alpha/logout/")
    # then the session cookie is cleared on the same path it was set on
    assert response.status_code == 302
    assert response.cookies["sessionid"]["path"] == "/t/alpha/"
    assert response.cookies["sessionid"].value == ""
    assert client.get("/t/alpha/").status_code == 302


def test_one_time_password_leads_to_the_password_change_page(alpha):
    # given rita, whose password was set for one use
    set_password(alpha, "rita", must_change=True)
    # when she signs in / then she is sent to choose her own
    response = Client().post(LOGIN, {"username": "rita", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/t/alpha/password/"


def test_after_failure_limit_even_the_right_password_gets_429(alpha):
    # given mia, and AXES_FAILURE_LIMIT failed sign-ins for her name
    set_password(alpha, "mia")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(LOGIN, {"username": "mia", "password": "wrong"}).status_code == 200
    assert client.post(LOGIN, {"username": "mia", "password": "wrong"}).status_code == 429
    # when she then types the right password
    response = client.post(LOGIN, {"username": "mia", "password": PASSWORD})
    # then she is still throttled, and no session starts
    assert response.status_code == 429
    assert "sessionid" not in response.cookies
    # and the throttled attempts are audited as such
    with schema_context(alpha.schema_name):
        failures = list(AuditEvent.objects.filter(action="auth.login_failed"))
    assert [event.after["locked_out"] for event in failures][-2:] == [True, True]
    assert not failures[0].after["locked_out"]
    # while another member from the same address still signs in
    set_password(alpha, "rita")
    assert Client().post(LOGIN, {"username": "rita", "password": PASSWORD}).status_code == 302


def test_throttling_is_per_tenant(alpha, beta):
    # given mia locked out in alpha
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post(LOGIN, {"username": "mia", "password": "wrong"})
    # when carol signs in to beta / then beta knows nothing of alpha's failures
    set_password(beta, "carol")
    response = Client().post("/t/beta/login/", {"username": "carol", "password": PASSWORD})
    assert response.status_code == 302


def test_every_failed_sign_in_is_audited(alpha):
    # given two failed sign-ins, the second for a user that does not exist
    Client().post(LOGIN, {"username": "mia", "password": "wrong"})
    Client().post(LOGIN, {"username": "nobody", "password": "wrong"})
    # then both are in alpha's audit trail, without the password
    with schema_context(alpha.schema_name):
        failures = list(AuditEvent.objects.filter(action="auth.login_failed"))
    assert [event.after["username"] for event in failures] == ["mia", "nobody"]
    assert all("wrong" not in str(event.after) for event in failures)
    assert all(event.ip_address == "127.0.0.1" and event.request_id for event in failures)


@pytest.mark.parametrize(
    "new_password", ["password", "short", "12345678901234", "mia12345", "mia@alpha.test"]
)
def test_password_change_refuses_weak_passwords(alpha, console_login, new_password):
    # given mia signed in
    client = console_login(alpha, "mia")
    # when she picks a common, short, numeric or name-like password
    response = client.post(
        "/t/alpha/password/",
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    # then the form is shown again with the validators' errors, and her password stays
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    with schema_context(alpha.schema_name):
        assert user_in(alpha, "mia").check_password(PASSWORD)


def test_password_change_accepts_a_strong_password_and_is_audited(alpha, console_login):
    # given mia signed in with a one-time password
    client = console_login(alpha, "mia")
    with schema_context(alpha.schema_name):
        Membership.objects.filter(user__username="mia").update(must_change_password=True)
    new = "violet-kettle-harbour-42"
    # when she chooses a strong password
    response = client.post(
        "/t/alpha/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    # then it is saved, she need not change it again, she stays signed in, and it is audited
    assert response.status_code == 302
    with schema_context(alpha.schema_name):
        mia = user_in(alpha, "mia")
        assert mia.check_password(new)
        assert not Membership.objects.get(user=mia).must_change_password
        assert AuditEvent.objects.filter(
            action="member.password_change", actor_username="mia"
        ).exists()
    assert client.get("/t/alpha/").status_code == 200


def test_member_without_password_cannot_sign_in(alpha):
    # given bob, created without a password / when he tries an empty or any password
    for password in ("", "anything-at-all"):
        response = Client().post(LOGIN, {"username": "bob", "password": password})
        # then no session starts
        assert response.status_code == 200
        assert "sessionid" not in response.cookies
