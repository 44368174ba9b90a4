"""Password sign-in for people only: service accounts authenticate with tokens."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend


class PasswordLoginBackend(ModelBackend):
    def user_can_authenticate(self, user) -> bool:
        membership = getattr(user, "membership", None)
        if membership is not None and membership.is_service_account:
            return False
        return super().user_can_authenticate(user)
