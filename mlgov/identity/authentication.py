"""DRF authentication: bearer tokens, HTTP Basic with a token as password, console sessions.

Tokens live in the tenant's schema, so a token of tenant A is simply unknown under
/t/B/: isolation by construction, not by a check that could be forgotten.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework import authentication, exceptions

from mlgov.identity.models import ApiToken
from mlgov.identity.tokens import hashes_match, parse_prefix

# last_used_at is written at most this often per token: reads stay reads.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenInvalid(exceptions.AuthenticationFailed):
    default_code = "token_invalid"
    default_detail = "The API token is not valid for this tenant."


class TokenExpired(exceptions.AuthenticationFailed):
    default_code = "token_expired"
    default_detail = "The API token has expired."


class TokenRevoked(exceptions.AuthenticationFailed):
    default_code = "token_revoked"
    default_detail = "The API token has been revoked."


def authenticate_token(plaintext: str) -> tuple[User, ApiToken]:
    """Resolve a token to its user, or raise an AuthenticationFailed with a precise code."""
    prefix = parse_prefix(plaintext)
    if prefix is None:
        raise TokenInvalid()
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hashes_match(plaintext, token.token_hash):
        raise TokenInvalid()
    if token.is_revoked:
        raise TokenRevoked()
    if token.is_expired:
        raise TokenExpired()
    if not token.user.is_active:
        raise TokenInvalid("The API token's user is deactivated.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(f"{self.keyword} "):
            return None
        return authenticate_token(header[len(self.keyword) + 1 :].strip())

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="mlgov"'


class BasicTokenAuthentication(authentication.BaseAuthentication):
    """HTTP Basic where the password is an API token (the mlflow client sends this)."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith("Basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed(
                "Malformed Basic credentials.", code="token_invalid"
            ) from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise exceptions.AuthenticationFailed(
                "Malformed Basic credentials.", code="token_invalid"
            )
        user, token = authenticate_token(password)
        if username and username != user.username:
            raise TokenInvalid("The API token does not belong to that user name.")
        return user, token


class ConsoleSessionAuthentication(authentication.SessionAuthentication):
    """The console's session, with CSRF enforced on unsafe methods."""
