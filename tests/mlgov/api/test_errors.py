"""One error shape for every API error: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import pytest
from django.test import Client

from mlgov.api.errors import DomainError, api_exception_handler


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def test_validation_error_names_each_field(alpha, api_as):
    error = assert_error(
        api_as(alpha, "alice").post("api/v1/members/", {"role": "wizard"}), 400, "validation_error"
    )
    assert set(error["details"]["fields"]) == {"username", "role"}
    assert error["details"]["first_code"] in {"required", "invalid_choice"}


def test_malformed_json_is_a_400_parse_error(alpha, api_as):
    api = api_as(alpha, "alice")
    response = api.client.post(
        "/t/alpha/api/v1/tokens/",
        data=b'{"name": ',
        content_type="application/json",
        HTTP_AUTHORIZATION=api.authorization,
    )
    assert_error(response, 400, "parse_error")


def test_unsupported_media_type_is_a_415(alpha, api_as):
    api = api_as(alpha, "alice")
    response = api.client.post(
        "/t/alpha/api/v1/tokens/",
        data=b"name=x",
        content_type="text/plain",
        HTTP_AUTHORIZATION=api.authorization,
    )
    assert_error(response, 415, "unsupported_media_type")


def test_unacceptable_format_is_refused_in_json(alpha, api_as):
    response = api_as(alpha, "alice").get("api/v1/members/", HTTP_ACCEPT="text/csv")
    assert_error(response, 406, "not_acceptable")


def test_not_found_page_is_a_404(alpha, api_as):
    response = api_as(alpha, "alice").get("api/v1/members/?page=99")
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "path", ["/t/alpha/api/v1/nothing-here/", "/api/v1/nothing-here/", "/t/nope/api/v1/"]
)
def test_unknown_api_paths_are_json_404s(alpha, path):
    assert_error(Client().get(path), 404, "not_found")


def test_domain_error_keeps_its_status_code_and_details():
    # given a service's error mapped by a view / when the handler renders it
    error = DomainError(status_code=409, code="x_taken", message="X is taken.", details={"x": 1})
    response = api_exception_handler(error, {})
    # then its own status, code and details
    assert response.status_code == 409
    assert response.data == {
        "error": {"code": "x_taken", "message": "X is taken.", "details": {"x": 1}}
    }


def test_unexpected_exception_is_a_500_in_the_error_shape_without_internals():
    response = api_exception_handler(ValueError("secret internals"), {})
    assert response.status_code == 500
    assert response.data["error"]["code"] == "server_error"
    assert "secret internals" not in str(response.data)


def test_request_id_is_echoed(alpha, api_as):
    response = api_as(alpha, "alice").get("api/v1/", HTTP_X_REQUEST_ID="req-12345678")
    assert response["X-Request-ID"] == "req-12345678"
    generated = api_as(alpha, "alice").get("api/v1/", HTTP_X_REQUEST_ID="bad id\n")
    assert generated["X-Request-ID"] != "bad id\n"
    assert len(generated["X-Request-ID"]) == 32
