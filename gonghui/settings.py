"""The one settings module. Every knob comes from the environment.

Each setting is read with a typed helper that fails loudly on a malformed value.
A secret may be given directly (``NAME=value``) or as a file (``NAME_FILE=/run/secrets/x``),
the way container orchestrators mount secrets. ``make run`` writes an untracked
``local.env`` with freshly generated secrets; its values never override the real
environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _load_local_env(path: Path) -> None:
    if not path.exists():
        return
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ImproperlyConfigured(f"{path}:{lineno}: expected NAME=value")
        name, value = line.split("=", 1)
        os.environ.setdefault(name.strip(), value.strip())


_load_local_env(Path(os.environ.get("GONGHUI_LOCAL_ENV", BASE_DIR / "local.env")))


def env_str(name: str, default: str | None = None) -> str | None:
    """Read ``name`` or the contents of the file named by ``name_FILE``."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name}: {exc}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false)")


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from exc


def env_list(name: str, default: str = "") -> list[str]:
    value = env_str(name, default) or ""
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
TESTING = env_bool("GONGHUI_TESTING", False)

SECRET_KEY = env_str("SECRET_KEY") or ""
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_ROOT = env_str("SITE_ROOT", "http://127.0.0.1:8000") or ""

# PII encryption keys: comma-separated "id:base64key" pairs; the first is used to
# encrypt, all are tried to decrypt (see docs/SECURITY.md for rotation).
PII_KEYS = env_list("PII_KEYS")
# Key of the HMAC blind index used to look up and de-duplicate ID numbers.
PII_BLIND_INDEX_KEY = env_str("PII_BLIND_INDEX_KEY") or ""

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "treebeard",
    "ninja",
    "gonghui.core",
    "gonghui.orgs",
    "gonghui.members",
    "gonghui.inbox",
    "gonghui.activities",
    "gonghui.points",
    "gonghui.mall",
    "gonghui.coupons",
    "gonghui.news",
    "gonghui.activities.kinds.vote",
    "gonghui.activities.kinds.survey",
    "gonghui.activities.kinds.signup",
    "gonghui.activities.kinds.lottery",
    "gonghui.activities.kinds.quiz",
    "gonghui.activities.kinds.rush",
    "gonghui.console",
    "gonghui.portal",
    "gonghui.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "gonghui.core.middleware.IdleSessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "gonghui.urls"
WSGI_APPLICATION = "gonghui.wsgi.application"
# Wrapped around Django's handler by gonghui.wsgi, outermost first: the hot lane answers
# the vote's and the rush's lane endpoints before Django (docs/ACTIVITIES.md).
WSGI_FRONTS = ["gonghui.api.lane.HotLane"]
ASGI_APPLICATION = "gonghui.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "gonghui" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'gonghui.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL + a busy timeout let the web process and the task worker share the file.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = ["gonghui.core.auth.MobileOrUsernameBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 is deliberately slow; tests create many users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal:login"

# Sessions: absolute lifetime plus an idle timeout enforced by our middleware
# (等保 level 3 asks for both for administrators).
# "django.contrib.sessions.backends.cached_db" in production with Redis: a session is
# read from the cache and written through to the database (docs/DEPLOYMENT.md).
SESSION_ENGINE = env_str("SESSION_ENGINE") or "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

OTP_TOTP_ISSUER = "Gonghui 工会"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "gonghui" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
if DEBUG or TESTING:
    # WhiteNoise warns on every request when its root is missing; in development the
    # files come from the app folders, so an empty directory is all it needs.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Uploaded member sheets, error reports and exports hold personal data: they live in a
# storage that is never served as static or media; downloads go through scoped,
# audited views.
PRIVATE_FILES_ROOT = Path(env_str("PRIVATE_FILES_ROOT") or BASE_DIR / "var" / "private")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(PRIVATE_FILES_ROOT), "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "var" / "media")

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "gonghui.core.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend" if TESTING else "django_tasks_db.DatabaseBackend"
        ),
    }
}

# SMS: a dotted path to a gonghui.core.sms.SmsProvider. The sandbox keeps an outbox.
SMS_PROVIDER = env_str("SMS_PROVIDER", "gonghui.core.sms.SandboxSmsProvider") or ""
SMS_CODE_TTL_SECONDS = env_int("SMS_CODE_TTL_SECONDS", 300)

# Real-name verification (实名核验): a dotted path to a members.verification.RealNameProvider.
# The sandbox behaves like a real one (latency, rate limit, transient failures) with
# deterministic outcomes; see members/verification.py.
REALNAME_PROVIDER = env_str("REALNAME_PROVIDER", "gonghui.members.verification.SandboxRealNameProvider") or ""
REALNAME_SANDBOX_LATENCY_MS = env_int("REALNAME_SANDBOX_LATENCY_MS", 0 if TESTING else 150)
REALNAME_SANDBOX_RATE_PER_SECOND = env_int("REALNAME_SANDBOX_RATE_PER_SECOND", 20)
# Per mille of calls that fail transiently (0 in tests unless a test turns it on).
REALNAME_SANDBOX_TRANSIENT_PER_MILLE = env_int("REALNAME_SANDBOX_TRANSIENT_PER_MILLE", 0 if TESTING else 20)
# Provider calls per second a verification batch allows itself (below the provider's limit).
REALNAME_BATCH_RATE_PER_SECOND = env_int("REALNAME_BATCH_RATE_PER_SECOND", 10)

# Login throttling: failures per account / per IP inside the window lock further tries.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)

# Member card numbers: a configurable prefix per province deployment.
MEMBER_CARD_PREFIX = env_str("MEMBER_CARD_PREFIX", "GH44") or ""
# Per-province overrides, "44:GH44,51:GH51": a union's region code picks its prefix.
MEMBER_CARD_PREFIXES = dict(item.split(":", 1) for item in env_list("MEMBER_CARD_PREFIXES") if ":" in item)
# Seconds an e-member card QR token stays valid (the card page refreshes it while open).
MEMBER_CARD_TOKEN_TTL_SECONDS = env_int("MEMBER_CARD_TOKEN_TTL_SECONDS", 60)

# Subtree broadcasts (消息群发): members per delivery batch (one transaction each), and
# seconds without a heartbeat after which resume_broadcasts restarts a delivery.
BROADCAST_BATCH_SIZE = env_int("BROADCAST_BATCH_SIZE", 5000)
BROADCAST_STALE_SECONDS = env_int("BROADCAST_STALE_SECONDS", 120)

# Member imports, data checks and verification batches: seconds without a heartbeat before
# the resume commands restart a job; subtrees above this many members check in a task.
IMPORT_STALE_SECONDS = env_int("IMPORT_STALE_SECONDS", 300)
REALNAME_BATCH_STALE_SECONDS = env_int("REALNAME_BATCH_STALE_SECONDS", 120)
DATACHECK_INLINE_LIMIT = env_int("DATACHECK_INLINE_LIMIT", 5000)

# Membership rules that vary by province (DOMAIN.md "Members").
# Days the outgoing union has to release a transfer before it escalates to the common parent.
TRANSFER_RELEASE_DAYS = env_int("TRANSFER_RELEASE_DAYS", 15)
# Months without dues or activity after which a member is flagged for review (never removed).
INACTIVE_REVIEW_MONTHS = env_int("INACTIVE_REVIEW_MONTHS", 6)
# Whether retained members (retired, unemployed) keep a vote; the statute says no.
RETAINED_MEMBERS_VOTE = env_bool("RETAINED_MEMBERS_VOTE", False)
# Points expire this many months after they were earned, oldest first (DOMAIN: 12–24).
POINTS_EXPIRY_MONTHS = env_int("POINTS_EXPIRY_MONTHS", 12)

# Secret ballots (无记名投票): staged ballots are mixed into the published table once this
# many are waiting — each published ballot hides among at least this many (docs/ACTIVITIES.md).
SECRET_BALLOT_MIX_BATCH = env_int("SECRET_BALLOT_MIX_BATCH", 50)
if SECRET_BALLOT_MIX_BATCH < 1:
    raise ImproperlyConfigured("SECRET_BALLOT_MIX_BATCH must be at least 1")

# Ticket rushes (抢票): the waiting room admits this many members per second per activity
# (plus a burst at the opening) and queues the rest in arrival order; an activity may set
# its own rate. Per web process with the local-memory cache, shared with Redis.
RUSH_ADMIT_RATE = env_int("RUSH_ADMIT_RATE", 200)
RUSH_ADMIT_BURST = env_int("RUSH_ADMIT_BURST", 200)

# Activity passes (活动通行证, docs/ACTIVITIES.md "The hot lane"): the short-lived credential
# a member's page gets after the full eligibility check and then sends with every vote or
# grab on the hot lane, instead of the session. Valid this many seconds (and never past
# the activity's end).
ACTIVITY_PASS_SECONDS = env_int("ACTIVITY_PASS_SECONDS", 1800)
if ACTIVITY_PASS_SECONDS < 60:
    raise ImproperlyConfigured("ACTIVITY_PASS_SECONDS must be at least 60")
# Group commit of contest ballots on PostgreSQL: ballots that arrive together in one web
# process are written by one statement in one transaction (at most this many at a time).
VOTE_GROUP_COMMIT = env_bool("VOTE_GROUP_COMMIT", True)
VOTE_GROUP_COMMIT_MAX = env_int("VOTE_GROUP_COMMIT_MAX", 64)
# The batch statement as a prepared statement with a generic plan (set false behind a
# pooler in transaction mode that does not keep prepared statements: PgBouncer < 1.21).
VOTE_GROUP_COMMIT_PREPARE = env_bool("VOTE_GROUP_COMMIT_PREPARE", True)
if VOTE_GROUP_COMMIT_MAX < 1:
    raise ImproperlyConfigured("VOTE_GROUP_COMMIT_MAX must be at least 1")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django logs every 4xx answer as a warning; here a 4xx is a business answer (a
        # sold-out rush answers 409 to nearly all of a crowd of 100,000, a vote over the
        # day's allowance 403) — a log line each is a flood and measurable CPU. 5xx stay
        # logged with their traceback; django.security (bad hosts, CSRF) is unaffected.
        "django.request": {"level": env_str("REQUEST_LOG_LEVEL", "ERROR")},
    },
}

if not DEBUG and not TESTING:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

NINJA_PAGINATION_PER_PAGE = 50
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
