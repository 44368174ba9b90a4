"""The permission matrix: every route of both URLconfs, and what each kind of caller gets.

The routes are walked from Django's resolvers (through includes and DRF routers), so a
new route without an entry in the tables below fails the suite: deciding who may call
it is part of adding it (STYLE.md rule 12, NetBox's generated "without permission" tests).

Callers, in table order:
- anonymous: no credentials at all;
- bob: a member of alpha without any role, with an admin-scoped token;
- read: alice (alpha's owner) with a read-scoped token;
- cross: carol's admin token from tenant beta, used under /t/alpha/ (and against `public`).

A route's DRF format-suffix twin (`members.json`) shares its entry and is called too.
Every method not listed for a route is called as well and must not answer 2xx.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django_tenants.utils import schema_context

from tests.conftest import user_in

CALLERS = ("anonymous", "bob", "read", "cross")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HEALTH = frozenset({200, 503})  # 503 when the broker is down: still no data

# --- the tables ------------------------------------------------------------------------
# route (as displayed by `_display`): {method: (anonymous, bob, read, cross)}

# The MLflow-compatible API (registry/mlflow_api/). MLflow takes its parameters from the
# query or the JSON body, so the matrix's empty body lacks the required ones: a read
# without them is a 400 for bob and the read token alike; a write is a 400 for bob
# (parameters are checked before the object is looked up) and a 403 for the read token
# (scope first). Creating experiments, runs in the default experiment, logged models
# without a run, and registered models needs a role: bob has none (403). Searches list
# only what the caller may see (200). {artifact_path} is alice's file `model.pkl` in her
# run, {model_id} a logged model that does not exist (404), {unknown} any other path.
_MLF_READ = (401, 400, 400, 401)
_MLF_WRITE = (401, 400, 403, 401)
_MLF_CREATE = (401, 403, 403, 401)
_MLF_LIST = (401, 200, 200, 401)
_MLF = "mlflow/api/2.0/mlflow/"
MLFLOW_ROUTES: dict[str, dict[str, tuple]] = {
    f"{_MLF}experiments/create": {"POST": _MLF_CREATE},
    f"{_MLF}experiments/get": {"GET": _MLF_READ},
    f"{_MLF}experiments/get-by-name": {"GET": _MLF_READ},
    f"{_MLF}experiments/search": {"GET": _MLF_LIST, "POST": _MLF_LIST},
    **{f"{_MLF}experiments/{name}": {"POST": _MLF_WRITE}
       for name in ("delete", "restore", "update", "set-experiment-tag",
                    "delete-experiment-tag")},
    f"{_MLF}runs/create": {"POST": _MLF_CREATE},
    f"{_MLF}runs/get": {"GET": _MLF_READ},
    **{f"{_MLF}runs/{name}": {"POST": _MLF_WRITE}
       for name in ("update", "delete", "restore", "log-parameter", "set-tag", "delete-tag",
                    "log-model", "log-inputs", "outputs", "log-metric", "log-batch")},
    f"{_MLF}runs/search": {"POST": _MLF_LIST},
    f"{_MLF}metrics/get-history": {"GET": _MLF_READ},
    f"{_MLF}artifacts/list": {"GET": _MLF_READ},
    f"{_MLF}logged-models": {"POST": _MLF_CREATE},
    f"{_MLF}logged-models/search": {"POST": _MLF_LIST},
    f"{_MLF}logged-models/{{model_id}}": {
        "GET": (401, 404, 404, 401),
        "PATCH": _MLF_WRITE,  # status is required
        "DELETE": (401, 404, 403, 401),
    },
    f"{_MLF}logged-models/{{model_id}}/tags": {"PATCH": (401, 404, 403, 401)},
    f"{_MLF}logged-models/{{model_id}}/tags/{{tag_key}}": {"DELETE": (401, 404, 403, 401)},
    f"{_MLF}logged-models/{{model_id}}/params": {"POST": (401, 404, 403, 401)},
    f"{_MLF}registered-models/create": {"POST": _MLF_CREATE},
    f"{_MLF}registered-models/get": {"GET": _MLF_READ},
    f"{_MLF}registered-models/rename": {"POST": _MLF_WRITE},
    f"{_MLF}registered-models/update": {"PATCH": _MLF_WRITE},
    f"{_MLF}registered-models/delete": {"DELETE": _MLF_WRITE},
    f"{_MLF}registered-models/search": {"GET": _MLF_LIST},
    f"{_MLF}registered-models/get-latest-versions": {"GET": _MLF_READ, "POST": _MLF_READ},
    f"{_MLF}registered-models/set-tag": {"POST": _MLF_WRITE},
    f"{_MLF}registered-models/delete-tag": {"DELETE": _MLF_WRITE},
    f"{_MLF}registered-models/alias": {
        "GET": _MLF_READ, "POST": _MLF_WRITE, "DELETE": _MLF_WRITE,
    },
    f"{_MLF}model-versions/create": {"POST": _MLF_WRITE},
    f"{_MLF}model-versions/get": {"GET": _MLF_READ},
    f"{_MLF}model-versions/update": {"PATCH": _MLF_WRITE},
    f"{_MLF}model-versions/delete": {"DELETE": _MLF_WRITE},
    f"{_MLF}model-versions/transition-stage": {"POST": _MLF_WRITE},
    f"{_MLF}model-versions/search": {"GET": _MLF_LIST},
    f"{_MLF}model-versions/get-download-uri": {"GET": _MLF_READ},
    f"{_MLF}model-versions/set-tag": {"POST": _MLF_WRITE},
    f"{_MLF}model-versions/delete-tag": {"DELETE": _MLF_WRITE},
    "mlflow/api/2.0/mlflow-artifacts/artifacts": {"GET": _MLF_READ},  # ?path= is required
    "mlflow/api/2.0/mlflow-artifacts/artifacts/{artifact_path}": {
        "GET": (401, 404, 200, 401),
        "PUT": (401, 404, 403, 401),
        "DELETE": (401, 404, 403, 401),
    },
    "mlflow/api/3.0/mlflow/server-info": {"GET": _MLF_LIST},
    "mlflow/{unknown}": {method: (401, 404, 404, 401) for method in METHODS},
}

TENANT_ROUTES: dict[str, dict[str, tuple]] = {
    # console: tokens are not console credentials, so every caller is sent to sign in
    "": {"GET": (302, 302, 302, 302)},
    "login/": {"GET": (200, 200, 200, 200), "POST": (200, 200, 200, 200)},
    "logout/": {"POST": (302, 302, 302, 302)},
    "password/": {"GET": (302, 302, 302, 302), "POST": (302, 302, 302, 302)},
    # REST: the API root, members (role permission), tokens (any member, own tokens only)
    "api/v1/": {"GET": (401, 200, 200, 401)},
    "api/v1/members/": {"GET": (401, 403, 200, 401), "POST": (401, 403, 403, 401)},
    "api/v1/members/{pk}/": {
        "GET": (401, 403, 200, 401),
        "PATCH": (401, 403, 403, 401),
        "DELETE": (401, 403, 403, 401),
    },
    "api/v1/members/{pk}/reset-password/": {"POST": (401, 403, 403, 401)},
    # bob's POST is refused for its empty body (400), not for lack of rights: any member
    # may hold tokens. {pk} is one of alice's tokens, which bob cannot see (404).
    "api/v1/tokens/": {"GET": (401, 200, 200, 401), "POST": (401, 400, 403, 401)},
    "api/v1/tokens/{pk}/": {"GET": (401, 404, 200, 401), "DELETE": (401, 404, 403, 401)},
    "api/v1/tokens/{pk}/revoke/": {"POST": (401, 404, 403, 401)},
    "api/schema/": {"GET": (401, 200, 200, 401)},
    "api/docs/": {"GET": (401, 200, 200, 401)},
    # audit trail: owners and auditors read, list, export and verify (bob has no role: 403)
    "api/v1/audit/": {"GET": (401, 403, 200, 401)},
    "api/v1/audit/export/": {"GET": (401, 403, 200, 401)},
    "api/v1/audit/verify/": {"GET": (401, 403, 200, 401)},
    # datasets: {pk}/{dataset_pk} is alice's dataset with one version; bob never sees it
    # (404), the list shows him nothing (200); the read token reads, downloads included.
    "api/v1/datasets/": {"GET": (401, 200, 200, 401), "POST": (401, 403, 403, 401)},
    "api/v1/datasets/{pk}/": {
        "GET": (401, 404, 200, 401),
        "PATCH": (401, 404, 403, 401),
        "DELETE": (401, 404, 403, 401),
    },
    "api/v1/datasets/{pk}/permissions/": {"GET": (401, 404, 200, 401)},
    "api/v1/datasets/{pk}/permissions/grant/": {"POST": (401, 404, 403, 401)},
    "api/v1/datasets/{pk}/permissions/revoke/": {"POST": (401, 404, 403, 401)},
    "api/v1/datasets/{dataset_pk}/versions/": {
        "GET": (401, 404, 200, 401),
        "POST": (401, 404, 403, 401),
    },
    "api/v1/datasets/{dataset_pk}/versions/{version}/": {
        "GET": (401, 404, 200, 401),
        "DELETE": (401, 404, 403, 401),
    },
    "api/v1/datasets/{dataset_pk}/versions/{version}/download/": {"GET": (401, 404, 200, 401)},
    # experiments and runs: {pk} is alice's experiment / her run (with the file {name});
    # bob sees neither (404) and lists nothing (200); the read token reads and downloads.
    "api/v1/experiments/": {"GET": (401, 200, 200, 401), "POST": (401, 403, 403, 401)},
    "api/v1/experiments/{pk}/": {
        "GET": (401, 404, 200, 401),
        "PATCH": (401, 404, 403, 401),
        "DELETE": (401, 404, 403, 401),
    },
    "api/v1/experiments/{pk}/restore/": {"POST": (401, 404, 403, 401)},
    "api/v1/experiments/{pk}/permissions/": {"GET": (401, 404, 200, 401)},
    "api/v1/experiments/{pk}/permissions/grant/": {"POST": (401, 404, 403, 401)},
    "api/v1/experiments/{pk}/permissions/revoke/": {"POST": (401, 404, 403, 401)},
    # bob's POST is refused for its empty body (400): which experiment is checked after
    "api/v1/runs/": {"GET": (401, 200, 200, 401), "POST": (401, 400, 403, 401)},
    "api/v1/runs/{pk}/": {
        "GET": (401, 404, 200, 401),
        "PATCH": (401, 404, 403, 401),
        "DELETE": (401, 404, 403, 401),
    },
    "api/v1/runs/{pk}/restore/": {"POST": (401, 404, 403, 401)},
    "api/v1/runs/{pk}/params/": {"POST": (401, 404, 403, 401)},
    "api/v1/runs/{pk}/tags/": {"POST": (401, 404, 403, 401), "DELETE": (401, 404, 403, 401)},
    "api/v1/runs/{pk}/metrics/": {"GET": (401, 404, 200, 401), "POST": (401, 404, 403, 401)},
    # the read token's GET lacks the required ?key=: 400, never data
    "api/v1/runs/{pk}/metrics/history/": {"GET": (401, 404, 400, 401)},
    "api/v1/runs/{pk}/inputs/": {"GET": (401, 404, 200, 401), "POST": (401, 404, 403, 401)},
    "api/v1/runs/{pk}/artifacts/": {"GET": (401, 404, 200, 401)},
    "api/v1/runs/{pk}/artifacts/{name}": {
        "GET": (401, 404, 200, 401),
        "PUT": (401, 404, 403, 401),
        "DELETE": (401, 404, 403, 401),
    },
    # registered models and versions: {pk}/{model_pk} is alice's model with version 1 (alias
    # `champion`), model-versions/{pk} that version; bob sees none of it (404) and lists
    # nothing (200); the read token reads and downloads. Lineage without ?node= is a 400.
    "api/v1/models/": {"GET": (401, 200, 200, 401), "POST": (401, 403, 403, 401)},
    "api/v1/models/{pk}/": {
        "GET": (401, 404, 200, 401),
        "PATCH": (401, 404, 403, 401),
        "DELETE": (401, 404, 403, 401),
    },
    "api/v1/models/{pk}/permissions/": {"GET": (401, 404, 200, 401)},
    "api/v1/models/{pk}/permissions/grant/": {"POST": (401, 404, 403, 401)},
    "api/v1/models/{pk}/permissions/revoke/": {"POST": (401, 404, 403, 401)},
    "api/v1/models/{model_pk}/versions/": {
        "GET": (401, 404, 200, 401),
        "POST": (401, 404, 403, 401),
    },
    "api/v1/models/{model_pk}/versions/{version}/": {"GET": (401, 404, 200, 401)},
    "api/v1/models/{model_pk}/aliases/": {"GET": (401, 404, 200, 401)},
    "api/v1/models/{model_pk}/aliases/{alias}/": {
        "GET": (401, 404, 200, 401),
        "PUT": (401, 404, 403, 401),
        "DELETE": (401, 404, 403, 401),
    },
    "api/v1/model-versions/": {"GET": (401, 200, 200, 401)},
    "api/v1/model-versions/{pk}/": {
        "GET": (401, 404, 200, 401),
        "PATCH": (401, 404, 403, 401),
    },
    "api/v1/model-versions/{pk}/card/": {
        "GET": (401, 404, 200, 401),
        "PUT": (401, 404, 403, 401),
    },
    "api/v1/model-versions/{pk}/stage/": {"POST": (401, 404, 403, 401)},
    "api/v1/model-versions/{pk}/download/": {"GET": (401, 404, 200, 401)},
    "api/v1/model-versions/{pk}/transitions/": {"GET": (401, 404, 200, 401)},
    "api/v1/lineage/": {"GET": (401, 400, 400, 401)},
    # training jobs: every role reads (bob has none: 403); owners and maintainers submit,
    # cancel and retry (the read token may not). {pk} is a job alice submitted.
    "api/v1/training-jobs/": {"GET": (401, 403, 200, 401), "POST": (401, 403, 403, 401)},
    "api/v1/training-jobs/{pk}/": {"GET": (401, 403, 200, 401)},
    "api/v1/training-jobs/{pk}/cancel/": {"POST": (401, 403, 403, 401)},
    "api/v1/training-jobs/{pk}/retry/": {"POST": (401, 403, 403, 401)},
    # the tenant's own usage and cost: owners only
    "api/v1/usage/": {"GET": (401, 403, 200, 401)},
    **MLFLOW_ROUTES,
}

# The console's pages (registry/console/, mlgov/audit/console.py, mlgov/identity/console.py,
# mlgov/console_dashboard.py): they take console sessions only, so every token caller is
# sent to sign in (302), whatever the method (tests/console/ holds their role checks). The
# language switch takes POSTs from anyone (the sign-in page has it too) and redirects.
_CONSOLE_GET = {"GET": (302, 302, 302, 302)}
_CONSOLE_FORM = {"GET": (302, 302, 302, 302), "POST": (302, 302, 302, 302)}
_CONSOLE_POST = {"POST": (302, 302, 302, 302)}
TENANT_ROUTES.update(
    {
        "datasets/": _CONSOLE_GET,
        "datasets/{dataset_pk}/": _CONSOLE_GET,
        "datasets/{dataset_pk}/versions/{version}/": _CONSOLE_GET,
        "datasets/{dataset_pk}/versions/{version}/download/": _CONSOLE_GET,
        "experiments/": _CONSOLE_GET,
        "experiments/{experiment_pk}/": _CONSOLE_GET,
        "runs/compare/": _CONSOLE_GET,
        "runs/compare/chart/": _CONSOLE_GET,
        "runs/{run_pk}/": _CONSOLE_GET,
        "runs/{run_pk}/chart/": _CONSOLE_GET,
        "models/": _CONSOLE_GET,
        "models/{model_pk}/": _CONSOLE_GET,
        "models/{model_pk}/versions/{version}/": _CONSOLE_GET,
        "models/{model_pk}/versions/{version}/card/": _CONSOLE_FORM,
        "models/{model_pk}/versions/{version}/download/": _CONSOLE_GET,
        "lineage/": _CONSOLE_GET,
        "audit/": _CONSOLE_GET,
        "audit/verify/": _CONSOLE_GET,
        "audit/export/": _CONSOLE_GET,
        "access/": _CONSOLE_GET,
        "members/": _CONSOLE_FORM,
        "members/{pk}/role/": _CONSOLE_POST,
        "members/{pk}/deactivate/": _CONSOLE_POST,
        "members/{pk}/reset-password/": _CONSOLE_POST,
        "tokens/": _CONSOLE_FORM,
        "tokens/{pk}/revoke/": _CONSOLE_POST,
        "i18n/setlang/": _CONSOLE_POST,
    }
)

# Under `public` no tenant credential exists: every token above is unknown there.
PUBLIC_ROUTES: dict[str, dict[str, tuple]] = {
    "healthz": {"GET": (HEALTH, HEALTH, HEALTH, HEALTH)},
    "api/v1/": {"GET": (401, 401, 401, 401)},
    "api/v1/tenants/": {"GET": (401, 401, 401, 401), "POST": (401, 401, 401, 401)},
    "api/v1/tenants/{slug}/": {"GET": (401, 401, 401, 401), "DELETE": (401, 401, 401, 401)},
    "api/v1/tenants/{slug}/suspend/": {"POST": (401, 401, 401, 401)},
    "api/v1/tenants/{slug}/resume/": {"POST": (401, 401, 401, 401)},
    "api/v1/plans/": {"GET": (401, 401, 401, 401)},
    "api/v1/plans/{pk}/": {"GET": (401, 401, 401, 401)},
    "api/v1/usage/": {"GET": (401, 401, 401, 401)},
    "api/schema/": {"GET": (401, 401, 401, 401)},
    "api/docs/": {"GET": (401, 401, 401, 401)},
    # Django admin: staff sessions of `public` only; everyone else is sent to its login
    "admin/": {"GET": (302, 302, 302, 302)},
    "admin/login/": {"GET": (200, 200, 200, 200), "POST": (200, 200, 200, 200)},
    "admin/logout/": {"POST": (302, 302, 302, 302)},
    "admin/password_change/": {"GET": (302, 302, 302, 302)},
    "admin/password_change/done/": {"GET": (302, 302, 302, 302)},
    "admin/autocomplete/": {"GET": (302, 302, 302, 302)},
    "admin/jsi18n/": {"GET": (302, 302, 302, 302)},
    "admin/r/{content_type_id}/{object_id}/": {"GET": (302, 302, 302, 302)},
    "admin/{app_label}/": {"GET": (302, 302, 302, 302)},
    "admin/{url}": {"GET": (302, 302, 302, 302)},
    "admin/auth/user/{id}/password/": {"GET": (302, 302, 302, 302)},
}

# Every model registered with the admin site, and the routes the admin gives each one.
ADMIN_MODELS = (
    "auth/group",
    "auth/user",
    "axes/accessattempt",
    "axes/accessfailurelog",
    "axes/accesslog",
    "identity/apitoken",
    "identity/membership",
    "tenants/domain",
    "tenants/plan",
    "tenants/tenant",
    "tenants/usagerecord",
)
ADMIN_MODEL_ROUTES = (
    "",
    "add/",
    "{object_id}/",
    "{object_id}/change/",
    "{object_id}/delete/",
    "{object_id}/history/",
)
for _model in ADMIN_MODELS:
    for _route in ADMIN_MODEL_ROUTES:
        PUBLIC_ROUTES[f"admin/{_model}/{_route}"] = {
            "GET": (302, 302, 302, 302),
            "POST": (302, 302, 302, 302),
        }

# Routes that answer 2xx to a caller without credentials for them: sign-in forms and health
# (and the console's language switch, which the sign-in page offers).
OPEN_ROUTES = {("tenant", "login/"), ("public", "healthz"), ("public", "admin/login/"),
               ("tenant", "i18n/setlang/")}
# Routes any member of the tenant may use, whatever their role (bob included).
MEMBER_ROUTES = {
    ("tenant", r)
    for r in (
        "api/v1/",
        "api/v1/tokens/",
        "api/v1/tokens/{pk}/",
        "api/schema/",
        "api/docs/",
        "api/v1/datasets/",  # lists only what the caller may see
        "api/v1/experiments/",  # lists only what the caller may see
        "api/v1/runs/",  # runs of experiments the caller may see
        "api/v1/models/",  # lists only what the caller may see
        "api/v1/model-versions/",  # versions of the models the caller may see
        # MLflow's searches list what the caller may see; server-info describes the server
        "mlflow/api/2.0/mlflow/experiments/search",
        "mlflow/api/2.0/mlflow/runs/search",
        "mlflow/api/2.0/mlflow/logged-models/search",
        "mlflow/api/2.0/mlflow/registered-models/search",
        "mlflow/api/2.0/mlflow/model-versions/search",
        "mlflow/api/3.0/mlflow/server-info",
    )
}

# POSTs that only read: MLflow's searches (its client sends them as POST).
READ_POSTS = {
    ("tenant", f"mlflow/api/2.0/mlflow/{name}/search")
    for name in ("experiments", "runs", "logged-models")
}

URLCONFS = {"tenant": "mlgov.urls_tenants", "public": "mlgov.urls_public"}
TABLES = {"tenant": TENANT_ROUTES, "public": PUBLIC_ROUTES}

# --- walking the URLconfs ----------------------------------------------------------------

_FORMAT_REGEX = r"\.(?P<format>[a-z0-9]+)/?$"
_FORMAT_CONVERTER = "<drf_format_suffix:format>"


@dataclass(frozen=True)
class Route:
    side: str  # "tenant" or "public"
    pattern: str  # the full pattern as Django joins it
    display: str  # its table key
    format_suffix: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.side, self.display)


def _display(pattern: str) -> tuple[str, bool]:
    """`api/v1/^members/(?P<pk>[^/.]+)\\.(?P<format>[a-z0-9]+)/?$` -> (`api/v1/members/{pk}/`,
    True): regex anchors dropped, parameters as {name}, a format suffix folded into its twin."""
    format_suffix = _FORMAT_REGEX in pattern or _FORMAT_CONVERTER in pattern
    text = pattern.replace(_FORMAT_REGEX, "/$").replace(_FORMAT_CONVERTER, "")
    text = text.replace("^", "").replace("$", "")
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)
    text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)
    return text.replace("\\", ""), format_suffix


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def all_routes() -> list[Route]:
    routes = []
    for side, urlconf in URLCONFS.items():
        for pattern in _walk(get_resolver(urlconf).url_patterns):
            display, format_suffix = _display(pattern)
            routes.append(Route(side, pattern, display, format_suffix))
    return routes


ROUTES = all_routes()


def test_every_route_has_an_entry_and_every_entry_a_route():
    # given the routes Django resolves / when compared with the tables
    walked = {route.key for route in ROUTES}
    tabled = {(side, display) for side, table in TABLES.items() for display in table}
    # then a route without an entry fails, and so does an entry for a route that went away
    assert walked - tabled == set(), "routes without an entry in the permission matrix"
    assert tabled - walked == set(), "entries for routes that no longer exist"


def test_the_table_itself_never_grants_a_protected_route():
    # given the table / then 2xx appears only where the route is open to that caller
    for side, table in TABLES.items():
        for display, methods in table.items():
            for method, expected in methods.items():
                for caller, status in zip(CALLERS, expected, strict=True):
                    codes = status if isinstance(status, frozenset) else {status}
                    if not any(200 <= code < 300 for code in codes):
                        continue
                    where = (side, display)
                    if caller in ("anonymous", "cross"):
                        assert where in OPEN_ROUTES, (where, method, caller)
                    elif caller == "bob":
                        assert where in OPEN_ROUTES | MEMBER_ROUTES, (where, method, caller)
                    else:  # a read-scoped token never writes (MLflow's POST searches read)
                        assert method == "GET" or where in OPEN_ROUTES | READ_POSTS, (
                            where, method, caller)


# --- calling every route as every caller -------------------------------------------------


@pytest.fixture()
def matrix_world(alpha, beta):
    """Tokens of the four callers and the ids the routes' parameters need."""
    from mlgov.identity.services import token_issue
    from tenants.models import Plan

    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        bob = user_in(alpha, "bob")
        read = token_issue(acting_user=None, user=alice, name="read", scope="read")
        bobs = token_issue(acting_user=None, user=bob, name="bob", scope="admin")
    with schema_context(beta.schema_name):
        carol = user_in(beta, "carol")
        cross = token_issue(acting_user=None, user=carol, name="carol", scope="admin")
    values = {
        "tenant": {
            "pk": None, "format": "json", **_dataset_world(alpha), **_tracking_world(alpha),
            **_model_world(alpha), **_training_world(alpha),
        },
        "public": {
            "slug": alpha.slug,
            "pk": str(Plan.objects.order_by("pk").first().pk),
            "object_id": "1",
            "id": "1",
            "content_type_id": "1",
            "app_label": "auth",
            "url": "no-such-page/",
        },
    }
    values["tenant"].update(_mlflow_world(alpha, values["tenant"]["run_pk"]))
    return {
        "authorization": {
            "anonymous": None,
            "bob": f"Bearer {bobs.plaintext}",
            "read": f"Bearer {read.plaintext}",
            "cross": f"Bearer {cross.plaintext}",
        },
        "values": values,
        "alice_pk": str(alice.pk),
        "alice_token_pk": str(read.token.pk),
    }


def _model_world(tenant) -> dict[str, str]:
    """alice's registered model with version 1 (an uploaded file) named by alias `champion`."""
    from registry.services.models import registered_model_create
    from registry.services.stages import model_version_transition
    from registry.services.versions import model_version_register_upload

    with schema_context(tenant.schema_name):
        alice = user_in(tenant, "alice")
        model = registered_model_create(acting_user=alice, name="matrix")
        version = model_version_register_upload(
            acting_user=alice, model=model, source=[b"not a model"], model_format="pickle"
        ).version
        model_version_transition(acting_user=alice, version=version, alias="champion")
    return {
        "model_pk": str(model.pk),
        "model_version_pk": str(version.pk),
        "version": "1",
        "alias": "champion",
    }


def _dataset_world(tenant) -> dict[str, str]:
    """alice's dataset with one version, for the dataset routes."""
    from registry.services.datasets import dataset_create, dataset_version_create

    with schema_context(tenant.schema_name):
        alice = user_in(tenant, "alice")
        dataset = dataset_create(acting_user=alice, name="matrix")
        dataset_version_create(
            acting_user=alice,
            dataset=dataset,
            content=[b"a,b\n1,2\n"],
            file_format="csv",
            max_bytes=1024,
        )
    return {"dataset_pk": str(dataset.pk), "version": "1"}


def _tracking_world(tenant) -> dict[str, str]:
    """alice's experiment with one run that logged the file `model.pkl`."""
    from registry.services.experiments import experiment_create
    from registry.services.run_artifacts import run_artifact_write
    from registry.services.runs import run_create

    with schema_context(tenant.schema_name):
        alice = user_in(tenant, "alice")
        experiment = experiment_create(acting_user=alice, name="matrix")
        run = run_create(acting_user=alice, experiment=experiment)
        run_artifact_write(acting_user=alice, run=run, name="model.pkl", source=[b"bytes"])
    return {"experiment_pk": str(experiment.pk), "run_pk": str(run.pk), "name": "model.pkl"}


def _mlflow_world(tenant, run_pk: str) -> dict[str, str]:
    """The MLflow routes' path values: alice's run file by MLflow's artifact path, a
    logged model id that names no model, and an endpoint MLflow's API does not have."""
    from registry.models import Run

    with schema_context(tenant.schema_name):
        run_uuid = Run.objects.get(pk=run_pk).uuid.hex
    return {
        "artifact_path": f"runs/{run_uuid}/artifacts/model.pkl",
        "model_id": f"m-{'0' * 32}-{'0' * 8}",
        "tag_key": "k",
        "unknown": "api/2.0/mlflow/traces",
    }


def _training_world(tenant) -> dict[str, str]:
    """A queued training job alice submitted."""
    from training.models import TrainingJob

    with schema_context(tenant.schema_name):
        job = TrainingJob.objects.create(
            recipe="classification", registered_model_name="matrix", spec={},
            created_by=user_in(tenant, "alice"),
        )
    return {"training_job_pk": str(job.pk)}


def _concrete_path(route: Route, world) -> str:
    values = dict(world["values"][route.side])
    if route.side == "tenant":
        # members/{pk} is alice; tokens/{pk} is one of alice's tokens
        values["pk"] = world["alice_token_pk"] if "tokens/" in route.display else world["alice_pk"]
        if route.display.startswith("api/v1/datasets/"):
            values["pk"] = values["dataset_pk"]
        if route.display.startswith("api/v1/experiments/"):
            values["pk"] = values["experiment_pk"]
        if route.display.startswith("api/v1/runs/"):
            values["pk"] = values["run_pk"]
        if route.display.startswith("api/v1/models/"):
            values["pk"] = values["model_pk"]
        if route.display.startswith("api/v1/model-versions/"):
            values["pk"] = values["model_version_pk"]
        if route.display.startswith("api/v1/training-jobs/"):
            values["pk"] = values["training_job_pk"]
    path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route.display)
    if route.format_suffix:
        # `members/{pk}/` -> `members/1.json`; the API root's twin is `api/v1/.json`
        path = (path if _FORMAT_CONVERTER in route.pattern else path.rstrip("/")) + ".json"
    prefix = "/t/alpha/" if route.side == "tenant" else "/"
    return prefix + path


def _resolves_to(route: Route, path: str) -> bool:
    local = path.removeprefix("/t/alpha") if route.side == "tenant" else path
    match = resolve(local, urlconf=URLCONFS[route.side])
    display, format_suffix = _display(match.route)
    return display == route.display and format_suffix == route.format_suffix


def _call(method: str, path: str, authorization: str | None):
    client = Client()
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    return client.generic(method, path, data=b"{}", content_type="application/json", **headers)


def _is_api(route: Route) -> bool:
    return route.display.startswith("api/") or route.display == "healthz"


def _is_mlflow(route: Route) -> bool:
    return route.side == "tenant" and route.display.startswith("mlflow/")


def _mlflow_error_shape_problem(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    if not isinstance(body, dict) or set(body) != {"error_code", "message"}:
        return f"not MLflow's error shape: {body!r}"
    if not isinstance(body["error_code"], str) or not isinstance(body["message"], str):
        return f"bad error_code/message: {body!r}"
    return None


def _error_shape_problem(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return f"not the error shape: {body!r}"
    if not isinstance(error["code"], str) or not isinstance(error["details"], dict):
        return f"bad code/details: {error!r}"
    return None


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.side}:{r.pattern}")
def test_route_answers_each_caller_as_the_matrix_says(route, matrix_world):
    # given the route's entry and the four callers
    entry = TABLES[route.side].get(route.display)
    assert entry is not None, f"no matrix entry for {route.key}"
    path = _concrete_path(route, matrix_world)
    assert _resolves_to(route, path), f"{path} does not resolve to {route.pattern}"
    problems = []
    for method in METHODS:
        for index, caller in enumerate(CALLERS):
            # when the caller sends the method
            response = _call(method, path, matrix_world["authorization"][caller])
            status = response.status_code
            # then the status is the table's, or (unlisted method) at least not a success
            if method in entry:
                expected = entry[method][index]
                codes = expected if isinstance(expected, frozenset) else {expected}
                if status not in codes:
                    problems.append(f"{method} as {caller}: {status}, expected {expected}")
            elif 200 <= status < 300 and (route.side, route.display) not in OPEN_ROUTES:
                problems.append(f"{method} as {caller}: {status} for an unlisted method")
            if status >= 500 and route.display != "healthz":
                problems.append(f"{method} as {caller}: server error {status}")
            # and every API error has the one error shape; the MLflow-compatible API's is
            # MLflow's own ({"error_code", "message"}), which its client parses
            if _is_mlflow(route) and status >= 400:
                shape = _mlflow_error_shape_problem(response)
                if shape:
                    problems.append(f"{method} as {caller}: {status} {shape}")
            elif _is_api(route) and status >= 400 and status != 503:
                shape = _error_shape_problem(response)
                if shape:
                    problems.append(f"{method} as {caller}: {status} {shape}")
            # and a redirect away from a protected page goes to a sign-in page
            if status == 302 and (route.side, route.display) not in OPEN_ROUTES:
                location = response["Location"]
                if not ("/login/" in location or location.endswith("/admin/")):
                    problems.append(f"{method} as {caller}: redirected to {location}")
    assert problems == [], f"{route.side}:{route.display} ({path})"
