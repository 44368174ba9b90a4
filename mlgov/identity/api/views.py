"""Members and tokens endpoints: parse, call a service, map its errors."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.viewsets import TenantGenericViewSet
from mlgov.identity import selectors, services
from mlgov.identity.api import serializers
from mlgov.identity.errors import IdentityError
from mlgov.identity.models import ApiToken


def _domain_error(error: IdentityError) -> DomainError:
    return DomainError(
        status_code=error.status, code=error.code, message=error.message, details=error.details
    )


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """Members of the tenant and their roles. Owners manage them."""

    serializer_class = serializers.MemberOutput
    permissions_required = {
        "list": "identity.view_members",
        "retrieve": "identity.view_members",
        "create": "identity.manage_members",
        "partial_update": "identity.manage_members",
        "destroy": "identity.manage_members",
        "reset_password": "identity.manage_members",
    }
    required_scopes = {"POST": "admin", "PATCH": "admin", "DELETE": "admin"}
    filterset_fields = ["is_active"]
    ordering_fields = ["username", "date_joined"]

    def get_queryset(self):
        return selectors.member_list(acting_user=self.request.user)

    @extend_schema(request=serializers.MemberCreateInput, responses=serializers.MemberCreateOutput)
    def create(self, request, *args, **kwargs):
        data = serializers.MemberCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = services.member_create(acting_user=request.user, **data.validated_data)
        except IdentityError as error:
            raise _domain_error(error) from None
        user = created.user
        user.one_time_password = created.one_time_password
        return Response(serializers.MemberCreateOutput(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=serializers.MemberUpdateInput, responses=serializers.MemberOutput)
    def partial_update(self, request, *args, **kwargs):
        member = self.get_object()
        data = serializers.MemberUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.member_set_role(
                acting_user=request.user, member=member, role=data.validated_data["role"]
            )
        except IdentityError as error:
            raise _domain_error(error) from None
        return Response(serializers.MemberOutput(member).data)

    @extend_schema(request=None, responses=serializers.MemberOutput)
    def destroy(self, request, *args, **kwargs):
        """Deactivates the member and revokes their tokens; the record stays for the audit trail."""
        member = self.get_object()
        try:
            services.member_deactivate(acting_user=request.user, member=member)
        except IdentityError as error:
            raise _domain_error(error) from None
        return Response(serializers.MemberOutput(member).data)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"], url_path="reset-password")
    def reset_password(self, request, *args, **kwargs):
        member = self.get_object()
        try:
            password = services.member_reset_password(acting_user=request.user, member=member)
        except IdentityError as error:
            raise _domain_error(error) from None
        return Response({"id": member.pk, "one_time_password": password})


class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """The acting user's own API tokens."""

    serializer_class = serializers.TokenOutput
    permissions_required = {
        "list": None, "retrieve": None, "create": None, "revoke": None, "destroy": None,
    }
    # A leaked read or write token must not be able to mint more tokens.
    required_scopes = {"POST": "admin", "DELETE": "admin"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation, no user
            return ApiToken.objects.none()
        return selectors.token_list(acting_user=self.request.user)

    @extend_schema(request=serializers.TokenCreateInput, responses=serializers.TokenCreateOutput)
    def create(self, request, *args, **kwargs):
        data = serializers.TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            issued = services.token_issue(
                acting_user=request.user,
                user=request.user,
                acting_scope=getattr(request.auth, "scope", None),
                **data.validated_data,
            )
        except IdentityError as error:
            raise _domain_error(error) from None
        token = issued.token
        token.token = issued.plaintext
        return Response(serializers.TokenCreateOutput(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=serializers.TokenOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request, *args, **kwargs):
        # DRF's get_object turns a malformed id into a 404 (Django's shortcut raises a 500).
        token = self.get_object()
        services.token_revoke(acting_user=request.user, token=token)
        return Response(serializers.TokenOutput(token).data)

    @extend_schema(request=None, responses=serializers.TokenOutput)
    def destroy(self, request, *args, **kwargs):
        """Same as revoke: the token row stays so the audit trail can name it."""
        return self.revoke(request, *args, **kwargs)
