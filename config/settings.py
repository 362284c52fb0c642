"""The one settings module, read from environment variables (see README, "Configuration").

Two ways to run, chosen by the environment:

* embedded (no DATABASE_URL, no REDIS_URL): SQLite under DATA_DIR, an in-process Celery broker,
  the in-memory channel layer, and the workers and timer tick inside the web process;
* production (DATABASE_URL=postgres://..., REDIS_URL=redis://...): PostgreSQL, Celery and the
  channel layer on Redis, and web, workers and beat as separate processes.

The two switches are independent: the broker decides where workers run, the database where the
state lives.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))
# The broker defaults to Redis; RabbitMQ (amqp://) works too and survives its own restarts.
BROKER_URL = env_url("CELERY_BROKER_URL", schemes=("redis", "rediss", "amqp", "memory")) or (
    REDIS_URL or "memory://localhost/"
)
# Without an external broker, Celery's workers and the timer tick run inside the web process.
EMBEDDED_WORKERS = BROKER_URL.startswith("memory://")
RUN_MODE = "embedded" if EMBEDDED_WORKERS and not DATABASE_URL else "production"

DEBUG = env_bool("DEBUG", default=False)
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()
# Debug pages show code, settings and data: never by accident where the real data lives.
if DEBUG and DATABASE_URL.startswith("postgres") and not env_bool("ALLOW_DEBUG_ON_POSTGRES", False):
    raise ImproperlyConfigured(
        "DEBUG is on with a PostgreSQL DATABASE_URL: debug pages would show real data. "
        "Turn DEBUG off, or set ALLOW_DEBUG_ON_POSTGRES=1 on a machine nobody else can reach."
    )

_DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
if SECRET_KEY == _DEV_SECRET_KEY and RUN_MODE == "production":
    raise ImproperlyConfigured("SECRET_KEY must be set in production mode (whatever DEBUG says)")
# The debug page masks settings whose names match this; URLs of the database, the broker, the
# cache and the channel layer carry passwords too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.http.SettingsMaskingFilter"

# --- HTTPS, behind a reverse proxy or not (README: "Production mode") --------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers and Prometheus probe these over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# The header a TLS-terminating proxy sets, e.g. "X-Forwarded-Proto" (its value must be "https").
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "axes",
    "ninja",
    "orchestrator",
    "booking",
    "dashboard",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the request: NUL characters and the like never reach a view.
    "config.http.HostileInputGuard",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a lockout into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _sqlite_database(path: str | Path) -> dict[str, Any]:
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock when a
    # transaction starts, so concurrent writers queue up (busy timeout) instead of failing
    # half-way with "database is locked". select_for_update does nothing on SQLite: this is
    # what serialises the engine's transitions in embedded mode.
    return {
        "ENGINE": "config.sqlite",
        "NAME": str(path),
        # One connection per thread for its whole life: opening SQLite and running the pragmas
        # again for every task would cost more than the task.
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # Tests use a file too: an in-memory database shared between threads locks whole tables
        # and fails at once instead of waiting, unlike the embedded mode it stands for.
        "TEST": {"NAME": str(Path(path).with_name("test-" + Path(path).name))},
    }


DATABASES: dict[str, Any]
if DATABASE_URL.startswith("sqlite"):
    DATABASES = {"default": _sqlite_database(dj_database_url.parse(DATABASE_URL)["NAME"])}
elif DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            # Connections come from a pool (below), returned after each request or task.
            conn_max_age=0,
            # Processes outlive PostgreSQL restarts: the pool checks a connection before lending it.
            conn_health_checks=True,
        )
    }
    # Django's backend, each transaction's BEGIN sent with its first statement (config.postgresql).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # A bounded pool per process: an ASGI server runs each request in a thread of its own,
            # and one persistent connection per thread ran PostgreSQL out of connections. A
            # request waits up to the timeout for a free one, then gets 503 (config.http).
            "pool": {
                "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1, minimum=0),
                "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
                "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0, minimum=0.1),
            },
            # Shown in pg_stat_activity: who holds which connection.
            "application_name": env_str("DATABASE_APPLICATION_NAME", "orchestrator"),
        }
    )
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": _sqlite_database(DATA_DIR / "orchestrator.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed logins (dashboard and admin) per account and per client address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15.0, minimum=0.1))
# Either one locks: many passwords tried on one account, or many accounts tried from one address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # who tried what, from where: in the admin
# The address the server saw (uvicorn puts the proxy's forwarded one there only for the proxies
# in FORWARDED_ALLOW_IPS): never a header a client could set.
AXES_CLIENT_IP_CALLABLE = "config.http.client_address"
AXES_LOCKOUT_TEMPLATE = "locked_out.html"
AXES_VERBOSE = False
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:processes"
LOGOUT_REDIRECT_URL = "dashboard:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app folders when collectstatic has not run (development, tests).
WHITENOISE_USE_FINDERS = True
# WhiteNoise hands Django's ASGI handler file iterators; Django warns at every static file.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")

# --- Cache (the checkout page's rate limit) ---------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",  # Django's, keeping its clients
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cache",
            "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# /metrics asks for this bearer token (Prometheus: `authorization: credentials`). In production
# mode, /metrics is off until it is set; embedded mode serves it openly without one.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
CHECKOUT_BOOKINGS_PER_MINUTE = env_int("CHECKOUT_BOOKINGS_PER_MINUTE", 5, minimum=1)
# How long the customer's signed link to a booking's page works.
CHECKOUT_LINK_DAYS = env_int("CHECKOUT_LINK_DAYS", 30, minimum=1)
# Request bodies larger than this are refused with 413 before any view runs (config.body_limit).
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 256 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

# --- Channels -------------------------------------------------------------------------------
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # No socket timeout. redis-py 8 would give every socket 5 s by default, racing
                # channels_redis's 5 s BZPOPMIN; and with any timeout it sends each command under
                # asyncio.wait_for, which on Python 3.11 can swallow a cancellation: a socket's
                # consumer cancelled at that moment (the browser left) kept polling Redis forever.
                # BZPOPMIN returns by itself every 5 s; keepalive finds a peer that vanished.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": None,
                        "socket_connect_timeout": 5,
                        "socket_keepalive": True,
                    }
                ],
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Services -------------------------------------------------------------------------------
# Every module of booking/providers declares a service; these modules declare more (dotted
# paths, comma-separated): a team's own services, kept in a package of its own.
SERVICE_MODULES = env_list("SERVICE_MODULES", [])

# --- Celery ---------------------------------------------------------------------------------
# Queues: the orchestrator's own (replies, timer tick, outbox relay) and one per declared
# service (orchestrator.commands.queues_all).
ORCHESTRATOR_QUEUE = "orchestrator"

CELERY_BROKER_URL = BROKER_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport, but an item it cannot read is kept as a dead letter instead of
    # ending the worker that popped it (orchestrator.transport).
    CELERY_BROKER_TRANSPORT = "orchestrator.transport:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Tasks are short and no message waits on an ETA: delays live in the database. An hour
        # only bounds how late a message held by a vanished worker is delivered again.
        "visibility_timeout": 3600,
        # A publish on a half-open connection must not hang forever (kombu passes None by default).
        "socket_timeout": 15,
        "socket_connect_timeout": 5,
    }
elif EMBEDDED_WORKERS:
    # The in-memory transport polls; the default 1 s sleep would add a second to every hop.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.02}
# On RabbitMQ, Celery's queues are durable and its messages persistent: a broker restart keeps
# them, and a dead worker's message comes back as soon as its connection closes.
# Celery's consumer, keeping what it would drop (undecodable bodies, unknown tasks) first.
CELERY_WORKER_CONSUMER = "orchestrator.transport:Consumer"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
# Outcomes live in the database; nobody reads task results.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
# Keep database connections across tasks (Celery closes them after every task otherwise);
# config.celery checks them before each task instead, as Django does per request.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TASK_DEFAULT_QUEUE = ORCHESTRATOR_QUEUE
# A declared command goes to its service's queue; every other task (replies, the tick, probes,
# bulk actions, demo traffic) to the default queue, the orchestrator's.
CELERY_TASK_ROUTES = ["orchestrator.commands.task_route"]
TIMER_TICK_SECONDS = env_float("TIMER_TICK_SECONDS", 1.0, minimum=0.05)
# Replies the orchestrator worker takes from its queue at once and applies in one transaction
# (orchestrator.batches); 1 handles each alone.
ORCHESTRATOR_BATCH_SIZE = env_int("ORCHESTRATOR_BATCH_SIZE", 50, minimum=1)
# Commands a service worker takes from a queue at once and runs in one transaction
# (booking.services.batches); 1 runs each alone.
SERVICE_BATCH_SIZE = env_int("SERVICE_BATCH_SIZE", 50, minimum=1)
# Beat stamps each message with an absolute expiry read off its own clock, and a worker compares
# it with its own: a short expiry drops every tick on a worker whose clock runs a few seconds
# ahead, and then nothing times out or retries. Ticks that overlap are harmless (timers are
# claimed with SKIP LOCKED), so the expiry only keeps a long outage from leaving a pile of them:
# it tolerates this much clock skew between the beat host and the workers.
BEAT_MESSAGE_EXPIRES = 300.0
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "timer-tick": {
        "task": "orchestrator.tick",
        "schedule": TIMER_TICK_SECONDS,
        "options": {"expires": BEAT_MESSAGE_EXPIRES},
    },
    "bulk-actions": {
        "task": "dashboard.bulk_advance",
        "schedule": 1.0,
        "options": {"expires": BEAT_MESSAGE_EXPIRES},
    },
    "demo-traffic": {
        "task": "booking.demo_traffic",
        "schedule": 1.0,
        "options": {"expires": BEAT_MESSAGE_EXPIRES},
    },
}

# Embedded mode: how many worker threads the web process runs.
EMBEDDED_WORKER_THREADS = env_int("EMBEDDED_WORKER_THREADS", 2, minimum=1)

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}"
    )

# Production mode writes one JSON object a line (for a log collector), embedded mode readable lines.
LOG_FORMAT = env_str("LOG_FORMAT", "json" if RUN_MODE == "production" else "line")
if LOG_FORMAT not in {"json", "line"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or line, got {LOG_FORMAT!r}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"process_context": {"()": "config.logging.ProcessContextFilter"}},
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s%(process_tag)s %(message)s"},
        "json": {"()": "config.logging.JsonLineFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["process_context"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # One line per task received and succeeded would drown everything else under load.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},
        "kombu": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}
