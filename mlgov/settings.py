"""Django settings for mlgov. Every value comes from the environment via mlgov.env.

MLGOV_ENV selects the mode: `production` (default for servers and workers) requires
every secret from the environment; `development` and `test` (set by `manage.py`,
`make run` and `make test`) create local secrets in the data folder on first use.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from mlgov import env
from mlgov.embedded_db import embedded_database_url, local_secret

BASE_DIR = Path(__file__).resolve().parent.parent

MLGOV_ENV = env.env_str("MLGOV_ENV", "production")
if MLGOV_ENV not in {"production", "development", "test"}:
    raise env.EnvError(f"MLGOV_ENV must be production, development or test, got {MLGOV_ENV!r}.")
IS_PRODUCTION = MLGOV_ENV == "production"
DATA_DIR = env.env_path("MLGOV_DATA_DIR", BASE_DIR / ".data")

DEBUG = env.env_bool("DEBUG", False)

# --- secrets -----------------------------------------------------------------

SECRET_KEY = env.env_secret("SECRET_KEY", required=IS_PRODUCTION) or local_secret(
    DATA_DIR, "secret_key", kind="secret_key"
)
_master_key_text = env.env_secret("MLGOV_MASTER_KEY", required=IS_PRODUCTION) or local_secret(
    DATA_DIR, "master_key", kind="master_key"
)
# Versioned key-encryption keys; validated here so a bad key stops start-up.
MLGOV_MASTER_KEYS = env.parse_master_keys(_master_key_text)

# --- database ----------------------------------------------------------------

_database_url = env.env_optional("DATABASE_URL")
if _database_url is None:
    if IS_PRODUCTION:
        raise env.EnvError(
            "DATABASE_URL is required in production (the embedded PostgreSQL is for "
            "development and tests only)."
        )
    _database_url = embedded_database_url(DATA_DIR)
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# Connections are recycled after CONN_MAX_AGE: each one caches the catalog of every
# tenant schema it touched (PITFALLS.md).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env.env_optional("MLGOV_TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env.env_str("MLGOV_TEST_DATABASE_NAME")}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- tenancy -----------------------------------------------------------------

SHARED_APPS = [
    "django_tenants",
    "mlgov.api",
    "mlgov.audit",
    "mlgov.identity",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "guardian",
    "axes",
    "mlgov.audit",
    "mlgov.identity",
    "registry",
    "training",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
# New tenants are cloned from this migrated schema instead of replaying migrations.
TENANT_BASE_SCHEMA = "mlgov_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# search_path is set once per schema change, not on every cursor.
TENANT_LIMIT_SET_CALLS = True
TENANT_MULTIPROCESSING_MAX_PROCESSES = env.env_int("MLGOV_MIGRATE_PROCESSES", 4, minimum=1)
# Clones of the template kept ready, so a new tenant takes one by renaming it.
MLGOV_SPARE_SCHEMAS = env.env_int(
    "MLGOV_SPARE_SCHEMAS", 0 if MLGOV_ENV == "test" else 2, minimum=0
)

# --- web ---------------------------------------------------------------------

ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost"])
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise env.EnvError("ALLOWED_HOSTS is required in production (comma-separated host names).")
CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS", [])
# Reverse proxies whose X-Forwarded-For is believed (audit rows record the client's IP).
MLGOV_TRUSTED_PROXIES = env.env_list("MLGOV_TRUSTED_PROXIES", [])

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mlgov.api.request_id.RequestIdMiddleware",
    "tenants.middleware.TenantPathMiddleware",
    "tenants.middleware.TenantCookiePathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mlgov.urls_public"
TENANT_URLCONF = "mlgov.urls_tenants"
WSGI_APPLICATION = "mlgov.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The console's header: tenant, the user's role, the sections they may open.
                "mlgov.identity.console_context.console",
            ],
        },
    }
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "mlgov.identity.backends.PasswordLoginBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    # fast hashing keeps the suite quick
    "django.contrib.auth.hashers.MD5PasswordHasher"
    if MLGOV_ENV == "test"
    else "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # one-time passwords only; upgraded to the first hasher at first sign-in
    "mlgov.identity.hashers.OneTimePasswordHasher",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console-home"
LOGOUT_REDIRECT_URL = "login"
ANONYMOUS_USER_NAME = None  # guardian: anonymous users get no object permissions

# Login throttling (django-axes): per tenant, since its tables live in each schema.
AXES_FAILURE_LIMIT = env.env_int("MLGOV_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "mlgov.identity.views.lockout_response"
AXES_VERBOSE = False
AXES_ENABLED = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 3600
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
SECURE_SSL_REDIRECT = env.env_bool("SECURE_SSL_REDIRECT", IS_PRODUCTION)
SECURE_HSTS_SECONDS = env.env_int("SECURE_HSTS_SECONDS", 31536000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = IS_PRODUCTION
SECURE_HSTS_PRELOAD = IS_PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# /healthz answers load balancers over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.env_path("STATIC_ROOT", BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
# The console's own CSS and JS (mlgov is a project package, not an app with a static dir).
STATICFILES_DIRS = [BASE_DIR / "mlgov" / "static"]
# Console notices live in the session, which is scoped to the tenant's path; the default
# cookie storage would set a cookie on "/" that every tenant on the host receives.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
ARTIFACT_ROOT = env.env_path("ARTIFACT_ROOT", DATA_DIR / "artifacts")
# The largest dataset file (CSV or Parquet) one upload may hold; past it: 413.
MLGOV_DATASET_MAX_BYTES = env.env_int("MLGOV_DATASET_MAX_BYTES", 1024**3, minimum=1)
# The largest model file one upload may hold; past it: 413.
MLGOV_MODEL_MAX_BYTES = env.env_int("MLGOV_MODEL_MAX_BYTES", 2 * 1024**3, minimum=1)
# Gates every model stage and alias change passes (registry/services/stages.py): dotted
# paths to callables taking a TransitionRequest; empty until governance adds its policy check.
MLGOV_TRANSITION_GATES: list[str] = []

# Cache keys carry the tenant's schema (PITFALLS.md: a tenant-unaware cache leaks).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
}

# --- REST API ----------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mlgov.identity.authentication.BearerTokenAuthentication",
        "mlgov.identity.authentication.BasicTokenAuthentication",
        "mlgov.identity.authentication.ConsoleSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mlgov.api.permissions.TokenScopePermission"],
    "DEFAULT_PAGINATION_CLASS": "mlgov.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "EXCEPTION_HANDLER": "mlgov.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per tenant, from its plan; answers 429 quota_exceeded (tenants/quotas.py).
    "DEFAULT_THROTTLE_CLASSES": ["tenants.quotas.TenantRequestRateThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mlgov tenant API",
    "DESCRIPTION": "Datasets, experiments, models, jobs and governance of one tenant.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and Swagger UI answer signed-in callers only (members under /t/<slug>/,
    # operators in `public`); drf-spectacular's default would serve them to anyone.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ------------------------------------------------------------------

_broker_url = env.env_optional("CELERY_BROKER_URL")
if _broker_url is None:
    if IS_PRODUCTION:
        raise env.EnvError("CELERY_BROKER_URL is required in production (Redis or RabbitMQ).")
    # No broker server needed locally: kombu's SQLAlchemy transport on our PostgreSQL.
    _db = DATABASES["default"]
    _host = _db.get("HOST") or ""
    _broker_url = (
        f"sqla+postgresql+psycopg2://{_db.get('USER') or 'postgres'}@/{_db['NAME']}?host={_host}"
        if _host.startswith("/")
        else "sqla+postgresql+psycopg2://" + _database_url.split("://", 1)[1]
    )
CELERY_BROKER_URL = _broker_url
# The longest hard time limit of any task; the broker must not redeliver before it.
CELERY_TRAINING_HARD_TIME_LIMIT = env.env_int("MLGOV_TRAINING_TIME_LIMIT", 4 * 3600, minimum=60)
CELERY_DEFAULT_HARD_TIME_LIMIT = env.env_int("MLGOV_TASK_TIME_LIMIT", 15 * 60, minimum=10)
CELERY_VISIBILITY_TIMEOUT = env.env_int(
    "MLGOV_BROKER_VISIBILITY_TIMEOUT", CELERY_TRAINING_HARD_TIME_LIMIT + 3600, minimum=60
)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]  # a pickled message is refused (PITFALLS.md)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = CELERY_DEFAULT_HARD_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_DEFAULT_HARD_TIME_LIMIT - 5
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "training.tasks.*": {"queue": "training"},
    "training.evaluation_tasks.*": {"queue": "evaluation"},
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers unacknowledged tasks after the visibility timeout; kombu's SQLAlchemy
# transport passes its options to create_engine(), which accepts none of these.
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT, "polling_interval": 0.1}
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else {}
)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_TENANT_CACHE_SECONDS = 10
CELERY_BEAT_SCHEDULE: dict = {
    # Copy each tenant's audit chain head into public (tenants/audit_anchoring.py).
    "audit-anchor-heads": {
        "task": "tenants.audit_anchoring.audit_anchor_heads",
        "schedule": 300.0,
    },
}
# --- jobs (training/services/) ---------------------------------------------------
# The queue training jobs are sent to (its workers: --max-tasks-per-child 1).
MLGOV_TRAINING_QUEUE = env.env_str("MLGOV_TRAINING_QUEUE", "training")
# A job part delivered this many times without finishing (its worker died each time) is
# failed instead of run again: a job that kills its worker cannot loop forever.
MLGOV_JOB_MAX_DELIVERIES = env.env_int("MLGOV_JOB_MAX_DELIVERIES", 3, minimum=1)
# A running job writes a heartbeat this often; the watchdog treats one silent for longer
# than MLGOV_JOB_STALE_SECONDS as lost (re-enqueued, or failed once out of deliveries).
MLGOV_JOB_HEARTBEAT_SECONDS = env.env_int("MLGOV_JOB_HEARTBEAT_SECONDS", 10, minimum=1)
MLGOV_JOB_STALE_SECONDS = env.env_int("MLGOV_JOB_STALE_SECONDS", 120, minimum=3)
if MLGOV_JOB_STALE_SECONDS < 3 * MLGOV_JOB_HEARTBEAT_SECONDS:
    raise env.EnvError(
        "MLGOV_JOB_STALE_SECONDS must be at least three heartbeats "
        f"(3 x MLGOV_JOB_HEARTBEAT_SECONDS = {3 * MLGOV_JOB_HEARTBEAT_SECONDS}s)."
    )
MLGOV_WATCHDOG_INTERVAL_SECONDS = env.env_int("MLGOV_WATCHDOG_INTERVAL_SECONDS", 60, minimum=5)
CELERY_BEAT_SCHEDULE["training-watchdog"] = {
    # Not on the training queue: a sweep must not wait behind hour-long training tasks.
    "task": "training.watchdog.sweep",
    "schedule": float(MLGOV_WATCHDOG_INTERVAL_SECONDS),
    "options": {"queue": "default", "expires": float(MLGOV_WATCHDOG_INTERVAL_SECONDS)},
}
# API requests per minute per tenant (the plan's quota; tenants/quotas.py). Off by default
# in the test suite only, which sends thousands of requests a minute to one tenant; the
# throttle's own tests switch it on.
MLGOV_API_THROTTLE = env.env_bool("MLGOV_API_THROTTLE", MLGOV_ENV != "test")
# Written by a worker once it consumes, removed at shutdown: a readiness probe (mlgov/celery.py).
CELERY_WORKER_READY_FILE = env.env_optional("MLGOV_WORKER_READY_FILE")

# --- logging -----------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"tenant_context": {"()": "django_tenants.log.TenantContextFilter"}},
    "formatters": {
        "tenant_context": {
            "format": (
                "[%(asctime)s] %(levelname)s [%(schema_name)s:%(domain_url)s] "
                "%(name)s: %(message)s"
            )
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["tenant_context"],
            "formatter": "tenant_context",
        }
    },
    "root": {"handlers": ["console"], "level": env.env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
