"""URLs of the members and tokens pages (included at the tenant's root)."""

from django.urls import path, register_converter

from mlgov.identity import console


class PrimaryKey:
    """A bigint: longer digit strings would overflow in the database (a 500), not 404."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(PrimaryKey, "identity_pk")

urlpatterns = [
    path("access/", console.access_home, name="console-access"),
    path("members/", console.member_list, name="console-members"),
    path("members/<identity_pk:pk>/role/", console.member_role, name="console-member-role"),
    path(
        "members/<identity_pk:pk>/deactivate/",
        console.member_deactivate,
        name="console-member-deactivate",
    ),
    path(
        "members/<identity_pk:pk>/reset-password/",
        console.member_reset_password,
        name="console-member-reset-password",
    ),
    path("tokens/", console.token_list, name="console-tokens"),
    path("tokens/<identity_pk:pk>/revoke/", console.token_revoke, name="console-token-revoke"),
    path("i18n/setlang/", console.language_switch, name="set_language"),
]
