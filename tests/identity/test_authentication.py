"""Credentials of the API: Bearer tokens, HTTP Basic with a token as password, and
malformed headers, which are always a 401 and never a 500."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from tests.conftest import issue_token

MEMBERS = "/t/alpha/api/v1/members/"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def get_with(authorization: str, path: str = MEMBERS):
    return Client().get(path, HTTP_AUTHORIZATION=authorization)


def test_bearer_token_authenticates(alpha):
    # given alice's token / when sent as a Bearer token / then she is served
    token = issue_token(alpha, "alice", "read")
    assert get_with(f"Bearer {token}").status_code == 200


def test_basic_with_user_name_and_token_authenticates(alpha):
    # given alice's token / when sent as HTTP Basic password with her user name (mlflow's way)
    token = issue_token(alpha, "alice", "read")
    response = get_with(basic("alice", token))
    # then she is served
    assert response.status_code == 200
    assert response.json()["count"] >= 1


def test_basic_with_empty_user_name_authenticates(alpha):
    # given alice's token / when sent as Basic with an empty user name / then it is enough
    token = issue_token(alpha, "alice", "read")
    assert get_with(basic("", token)).status_code == 200


@pytest.mark.parametrize("username", ["mia", "Alice", "nobody"])
def test_basic_with_another_user_name_is_401(alpha, username):
    # given alice's token / when sent with someone else's user name
    token = issue_token(alpha, "alice", "read")
    response = get_with(basic(username, token))
    # then the credentials are refused
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_basic_with_a_password_instead_of_a_token_is_401(alpha, console_login):
    # given mia with a console password / when she sends it as Basic credentials to the API
    console_login(alpha, "mia")
    from tests.conftest import PASSWORD

    response = get_with(basic("mia", PASSWORD))
    # then it is refused: the API takes tokens, not passwords
    assert response.status_code == 401


def test_tampered_token_is_401(alpha):
    # given alice's token with its secret altered (the prefix still finds the row)
    token = issue_token(alpha, "alice", "read")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    # when sent / then it is refused
    response = get_with(f"Bearer {tampered}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


MALFORMED = [
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Bearer x",
    "Bearer mlg_",
    "Bearer mlg_short_secret",
    "Bearer mlg_ABCDEFGHIJ_secret",
    "Bearer mlg_abcdefghij_",
    "Bearer mlg_abcdefghij_unknown-secret",
    "Bearer xyz_abcdefghij_secret",
    "Bearer mlg_abcdefghij_\x00",
    "Bearer \x00",
    "Bearer \xe9\xff\xfe",
    "Bearer " + "a" * 10_000,
    "Bearer mlg_abcdefghij_secret extra words",
    "bearer mlg_abcdefghij_secret",
    "Basic",
    "Basic ",
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "Basic " + base64.b64encode(b"alice:").decode(),
    "Basic " + base64.b64encode(b"alice:not-a-token").decode(),
    "Basic " + base64.b64encode(b":").decode(),
    "Basic " + base64.b64encode(b"alice:mlg_abcdefghij_\x00").decode(),
    "Token 0123456789abcdef",
    "Digest username=alice",
    "\x00",
    "",
]


@pytest.mark.parametrize("header", MALFORMED)
def test_malformed_authorization_is_401_never_500(alpha, header):
    # given a malformed or unknown Authorization header / when it reaches the API
    response = get_with(header)
    # then 401 in the error shape, with a challenge, and no data
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert response.has_header("WWW-Authenticate")


@pytest.mark.parametrize("header", ["Bearer mlg_abcdefghij_secret", "Basic !!!"])
def test_malformed_authorization_on_console_pages_is_not_500(alpha, header):
    # given a console page, which ignores API credentials / then it asks to sign in
    response = get_with(header, "/t/alpha/")
    assert response.status_code == 302


def test_console_session_writes_to_the_api_only_with_a_csrf_token(alpha, console_login):
    # given mia signed in to the console, in a client that enforces CSRF like a browser
    from django.test import Client as BrowserClient

    client = console_login(alpha, "mia", client=BrowserClient(enforce_csrf_checks=True))
    # when she posts to the API without the CSRF token
    refused = client.post("/t/alpha/api/v1/tokens/", {"name": "x"}, content_type="application/json")
    # then 403 in the error shape, and no token
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    # when she sends the token from her CSRF cookie / then it works
    csrf = client.cookies["csrftoken"].value
    created = client.post(
        "/t/alpha/api/v1/tokens/",
        {"name": "x"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert created.status_code == 201
