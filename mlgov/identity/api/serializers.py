from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework import serializers

from mlgov.identity import roles
from mlgov.identity.models import ApiToken
from mlgov.identity.services import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS


class MemberOutput(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    is_service_account = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "is_service_account", "is_active",
                  "date_joined", "last_login"]

    def get_role(self, user: User) -> str | None:
        return roles.role_of(user)

    def get_is_service_account(self, user: User) -> bool:
        membership = getattr(user, "membership", None)
        return bool(membership and membership.is_service_account)


class MemberCreateInput(serializers.Serializer):
    username = serializers.RegexField(r"^[A-Za-z0-9_.@+-]{1,150}$", max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=roles.ROLES)
    service_account = serializers.BooleanField(default=False)


class MemberCreateOutput(MemberOutput):
    one_time_password = serializers.CharField(allow_null=True)

    class Meta(MemberOutput.Meta):
        fields = MemberOutput.Meta.fields + ["one_time_password"]


class MemberUpdateInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=roles.ROLES)


class TokenOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scope", "created_at", "expires_at", "revoked_at",
                  "last_used_at"]


class TokenCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=ApiToken.Scope.choices, default=ApiToken.Scope.READ)
    expires_days = serializers.IntegerField(
        min_value=1, max_value=MAX_TOKEN_DAYS, default=DEFAULT_TOKEN_DAYS
    )


class TokenCreateOutput(TokenOutput):
    token = serializers.CharField(help_text="Shown once; only its hash is stored.")

    class Meta(TokenOutput.Meta):
        fields = TokenOutput.Meta.fields + ["token"]
