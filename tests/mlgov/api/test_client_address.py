"""Audit rows record the client's address, also behind a trusted reverse proxy."""

from django.test import RequestFactory, override_settings

from mlgov.api.request_id import _client_ip


def _request(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/healthz", **extra)


def test_direct_client_is_remote_addr():
    assert _client_ip(_request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


@override_settings(MLGOV_TRUSTED_PROXIES=["10.0.0.2"])
def test_behind_trusted_proxy_the_right_most_untrusted_hop_wins():
    # given a client that forged a left-most entry / when the proxy appends the real one
    request = _request("10.0.0.2", "1.2.3.4, 198.51.100.7")
    # then the address the proxy saw is recorded
    assert _client_ip(request) == "198.51.100.7"


@override_settings(MLGOV_TRUSTED_PROXIES=["10.0.0.2"])
def test_garbage_forwarded_header_falls_back_to_the_proxy():
    assert _client_ip(_request("10.0.0.2", "not-an-ip")) == "10.0.0.2"
