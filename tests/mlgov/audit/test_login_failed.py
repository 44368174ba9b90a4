"""Every failed sign-in is audited in the tenant's own chain: the user name tried, the
request id and the client's address, whether django-axes had locked it out."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.test import Client, RequestFactory
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from mlgov.audit.receivers import LOGIN_FAILED_ACTION


def failures(schema_name: str, username: str) -> list[AuditEvent]:
    with schema_context(schema_name):
        return list(
            AuditEvent.objects.filter(action=LOGIN_FAILED_ACTION, object_id=username).order_by(
                "sequence"
            )
        )


def test_a_failed_console_sign_in_is_audited_in_the_tenant(alpha):
    client = Client()
    # when someone signs in to alpha as alice with a wrong password
    response = client.post(
        "/t/alpha/login/",
        {"username": "alice", "password": "not-her-password"},
        HTTP_X_REQUEST_ID="req-login-failed-1",
    )
    assert response.status_code == 200  # the form again, with its error
    # then alpha's chain names the attempt
    (event,) = failures(alpha.schema_name, "alice")
    assert event.actor_id is None
    assert event.actor_username == "anonymous"
    assert event.object_type == "user"
    assert event.after == {"username": "alice", "locked_out": False}
    assert event.ip_address == "127.0.0.1"
    assert event.request_id == "req-login-failed-1"
    # and not the platform's
    assert failures("public", "alice") == []


def test_a_sign_in_as_an_unknown_user_is_audited_too(alpha):
    Client().post("/t/alpha/login/", {"username": "nobody", "password": "x"})
    assert len(failures(alpha.schema_name, "nobody")) == 1


def test_throttled_attempts_are_audited_as_locked_out(alpha, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    for _ in range(3):
        client.post("/t/alpha/login/", {"username": "mia", "password": "wrong"})
    events = failures(alpha.schema_name, "mia")
    assert [event.after["locked_out"] for event in events] == [False, True, True]


def test_authenticate_outside_a_request_takes_the_address_from_the_request(alpha):
    request = RequestFactory().post("/t/alpha/login/", REMOTE_ADDR="203.0.113.9")
    with schema_context(alpha.schema_name):
        assert authenticate(request, username="rita", password="wrong") is None
    (event,) = failures(alpha.schema_name, "rita")
    assert event.ip_address == "203.0.113.9"
    assert event.request_id == ""
