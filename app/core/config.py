"""Settings from the environment, with defaults that run a demo on SQLite with no setup.

Read and typed by environs (whole numbers within their range, flags, lists); a value that
is not what its variable takes stops the start with the variable named. Every variable is
in the README's Configuration table (tests/test_config.py checks) and in `.env.example`.
Production (`LINLI_ENV=production`) refuses to start with a secret it would have had to
invent, or a well-known one, and on SQLite unless that is asked for explicitly.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from environs import Env, EnvError
from marshmallow.validate import Range

# Secrets that appear in documentation or tutorials; a production server must not use one.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "",
        "dev",
        "secret",
        "changeme",
        "change-me",
        "please-change-me",
        "replace-with-a-long-random-string",
        "your-secret-key",
    }
)
MIN_SECRET_LENGTH = 32
DEFAULT_HONOURS = "社区好人,最美三长,活力小哥,星级老哥"


class ConfigError(RuntimeError):
    """The environment describes a server that must not start."""


class _Source(Env):
    """environs reading a given mapping: the process's environment, or a test's. A variable
    set to nothing counts as not set (`FOO=` in a file means "the default")."""

    def __init__(self, source) -> None:
        super().__init__(eager=True)
        self._source = source

    def _get_value(self, env_key, default):
        value = self._source.get(env_key)
        return default if value is None or value.strip() == "" else value


def _secret_from_instance(instance_path: Path) -> str:
    """Read the generated secret kept in the instance folder, creating it once."""
    path = instance_path / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def load(instance_path: Path, environ: dict[str, str] | None = None) -> dict:
    """Build the Flask config mapping from environment variables."""
    try:
        return _load(instance_path, _Source(os.environ if environ is None else environ))
    except EnvError as exc:
        raise ConfigError(str(exc)) from None


def _load(instance_path: Path, env: _Source) -> dict:
    kind = env.str("LINLI_ENV", "development").strip().lower()
    if kind not in ("development", "production"):
        # "prod" must not quietly mean demo mode (a generated secret, codes shown on a page).
        raise ConfigError(f"LINLI_ENV={kind!r}: use production, or development for the demo")
    production = kind == "production"
    public_url = (env.str("LINLI_PUBLIC_URL", "")).strip().rstrip("/") or None
    instance_path.mkdir(parents=True, exist_ok=True)

    database_url = env.str("DATABASE_URL", None) or f"sqlite:///{instance_path / 'linli.sqlite3'}"
    if database_url.startswith("postgres://"):  # the form Heroku-style hosts hand out
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]

    secret = env.str("SECRET_KEY", None)
    timezone = env.str("LINLI_TIMEZONE", "Asia/Shanghai")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"LINLI_TIMEZONE={timezone!r} is not a known time zone") from exc

    if production:
        if secret is None:
            raise ConfigError(
                "LINLI_ENV=production needs SECRET_KEY in the environment "
                "(a generated demo secret is not used in production)."
            )
        if secret.strip().lower() in KNOWN_DEFAULT_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                "SECRET_KEY is a default or too short: use at least "
                f"{MIN_SECRET_LENGTH} random characters, e.g. "
                "python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        if public_url is None or not urlsplit(public_url).hostname:
            # Links in QR codes and messages must not follow a Host header anyone can send.
            raise ConfigError(
                "LINLI_ENV=production needs LINLI_PUBLIC_URL, the address people reach "
                "the server at (e.g. https://linli.example.org)."
            )
        if database_url.startswith("sqlite") and not env.bool("LINLI_ALLOW_SQLITE", False):
            raise ConfigError(
                "LINLI_ENV=production runs on PostgreSQL: set DATABASE_URL, "
                "or LINLI_ALLOW_SQLITE=1 for a single small server."
            )
    elif not secret:
        secret = _secret_from_instance(instance_path)
    allowed_hosts: list[str] = env.list("LINLI_ALLOWED_HOSTS", [])
    log_format = env.str("LINLI_LOG_FORMAT", "text").strip().lower()
    if log_format not in ("text", "json"):
        raise ConfigError(f"LINLI_LOG_FORMAT={log_format!r}: use text or json")
    sms = {name: env.str(name, None) for name in ("SMS_ACCOUNT_SID", "SMS_AUTH_TOKEN", "SMS_FROM")}
    if env.str("SMS_GATEWAY_URL", None):
        missing = [name for name, value in sms.items() if not value]
        if missing:
            raise ConfigError("SMS_GATEWAY_URL is set but not " + ", ".join(missing))

    return {
        "LINLI_ENV": "production" if production else "development",
        "DEMO_MODE": not production,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(database_url, production),
        "REDIS_URL": env.str("REDIS_URL", None),
        # The address phones reach this server at, for URLs inside QR codes (a projector
        # page opened on http://127.0.0.1 must still show a code a phone can open).
        "PUBLIC_URL": public_url,
        # In production, requests naming another host are refused (400): only the public
        # host and any LINLI_ALLOWED_HOSTS (comma-separated, e.g. an internal health check).
        "TRUSTED_HOSTS": (
            [urlsplit(public_url).hostname]
            + [host.strip() for host in allowed_hosts if host.strip()]
            if production
            else None
        ),
        # HSTS when the public address is https (a browser then never tries plain http).
        "HSTS": production and (public_url or "").startswith("https://"),
        # How many reverse proxies stand in front (their X-Forwarded-* headers are trusted).
        "TRUSTED_PROXIES": _number(env, "LINLI_TRUSTED_PROXIES", 0, high=5),
        # /metrics answers a scraper that sends "Authorization: Bearer <this>"; without it,
        # only the demo answers there, and only to this machine.
        "METRICS_TOKEN": env.str("LINLI_METRICS_TOKEN", None),
        # One line per record: text for a terminal, json for a log collector.
        "LOG_FORMAT": log_format,
        # Errors are reported to Sentry (or a compatible service) when a DSN is given.
        "SENTRY_DSN": env.str("SENTRY_DSN", None),
        "SMS_GATEWAY_URL": env.str("SMS_GATEWAY_URL", None),
        "SMS_AUTH_TOKEN": env.str("SMS_AUTH_TOKEN", None),
        "SMS_ACCOUNT_SID": env.str("SMS_ACCOUNT_SID", None),
        "SMS_FROM": env.str("SMS_FROM", None),
        "TELEGRAM_BOT_TOKEN": env.str("TELEGRAM_BOT_TOKEN", None),
        "TELEGRAM_WEBHOOK_SECRET": env.str("TELEGRAM_WEBHOOK_SECRET", None),
        "TELEGRAM_API_URL": env.str("TELEGRAM_API_URL", "https://api.telegram.org"),
        # WeChat Official Account (公众号): the server URL's token, and, for safe mode
        # (encrypted messages), the EncodingAESKey and the account's AppID; the AppSecret
        # lets the outbox send customer-service messages.
        "WECHAT_TOKEN": env.str("WECHAT_TOKEN", None),
        "WECHAT_AES_KEY": env.str("WECHAT_AES_KEY", None),
        "WECHAT_APP_ID": env.str("WECHAT_APP_ID", None),
        "WECHAT_APP_SECRET": env.str("WECHAT_APP_SECRET", None),
        "WECHAT_API_URL": env.str("WECHAT_API_URL", "https://api.weixin.qq.com"),
        # Seconds to wait for a gateway or the Bot API before trying again later.
        "SEND_TIMEOUT": _number(env, "LINLI_SEND_TIMEOUT", 10, high=120),
        # Messages one outbox worker sends at once (threads sharing keep-alive connections).
        "OUTBOX_THREADS": _number(env, "LINLI_OUTBOX_THREADS", 8, high=16, low=1),
        # A broadcast's copies are spread out at this many per second (what a gateway's
        # sender number may send), and one sender may send this many broadcasts a day.
        "BROADCAST_PER_SECOND": _number(env, "LINLI_BROADCAST_PER_SECOND", 10, high=1000, low=1),
        "BROADCASTS_PER_DAY": _number(env, "LINLI_BROADCASTS_PER_DAY", 10, high=1000, low=1),
        # Needs (需求): how many one resident may have open at once, and the days a resident
        # has to confirm one done (after them a worker may).
        "NEEDS_OPEN_PER_RESIDENT": _number(
            env, "LINLI_NEEDS_OPEN_PER_RESIDENT", 5, high=100, low=1
        ),
        "NEED_CONFIRM_DAYS": _number(env, "LINLI_NEED_CONFIRM_DAYS", 7, high=60, low=1),
        "LINLI_TIMEZONE": timezone,
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": timezone,
        "LANGUAGES": ("zh", "en"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        # Shared by every worker process: Redis when there is one, else the database
        # (app/rate_limits.py); never one count per process.
        "RATELIMIT_STORAGE_URI": env.str("REDIS_URL", "linli-db://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Password attempts per client address (brute force is slowed, not just logged).
        "LOGIN_RATE_LIMIT": env.str("LINLI_LOGIN_RATE_LIMIT", "10 per minute"),
        # Sign-in codes asked for per client address, across all phone numbers (each phone
        # has its own limits too): one address cannot make the server text half the city.
        "CODE_RATE_LIMIT": env.str("LINLI_CODE_RATE_LIMIT", "5 per minute;30 per hour"),
        "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
        # A volunteer stays signed in on their phone for 30 days ("remember me").
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # Check-in opens this long before an activity starts; hours are capped at the
        # scheduled length plus the grace, and check-out stays open for the grace after
        # the end (then open attendances are closed automatically, unverified).
        "CHECKIN_EARLY_MINUTES": _number(env, "LINLI_CHECKIN_EARLY_MINUTES", 30),
        "ATTENDANCE_GRACE_MINUTES": _number(env, "LINLI_ATTENDANCE_GRACE_MINUTES", 30),
        # A shop operator may void a redemption this long after it; later only staff can.
        "VOID_WINDOW_MINUTES": _number(env, "LINLI_VOID_MINUTES", 30),
        # API: how long an Idempotency-Key's first response is kept (at least a day), and
        # requests per token (on top, redemptions have their own: a till guessing codes).
        "IDEMPOTENCY_HOURS": _number(env, "LINLI_IDEMPOTENCY_HOURS", 48, high=24 * 30, low=24),
        "API_RATE_LIMIT": env.str("LINLI_API_RATE_LIMIT", "120 per minute;3000 per hour"),
        "API_REDEEM_RATE_LIMIT": env.str("LINLI_API_REDEEM_RATE_LIMIT", "20 per minute"),
        # The honours staff can give (comma-separated), e.g. 社区好人,最美三长,活力小哥,星级老哥.
        "HONOURS": [
            title.strip()
            for title in env.list("LINLI_HONOURS", DEFAULT_HONOURS.split(","))
            if title.strip()
        ],
        # A manual adjustment of more points than this (either way) waits for a second
        # staff member to approve it.
        "ADJUSTMENT_APPROVAL_THRESHOLD": _number(
            env, "LINLI_ADJUSTMENT_APPROVAL_THRESHOLD", 200, high=1_000_000
        ),
        # An attendance of more minutes than this (or more points than the threshold above)
        # is approved by a worker other than the one who entered or corrected it.
        "ATTENDANCE_APPROVAL_MINUTES": _number(
            env, "LINLI_ATTENDANCE_APPROVAL_MINUTES", 480, high=7 * 24 * 60
        ),
        # A fixed-points activity pays by itself only after this share of its scheduled
        # time on site; shorter attendances wait for staff.
        "MIN_ATTENDANCE_PERCENT": _number(env, "LINLI_MIN_ATTENDANCE_PERCENT", 50, high=100),
        # `flask purge`: days a delivered (or given-up) message and a received one are kept.
        "KEEP_OUTBOX_DAYS": _number(env, "LINLI_KEEP_OUTBOX_DAYS", 90, high=3650, low=1),
        "KEEP_INBOUND_DAYS": _number(env, "LINLI_KEEP_INBOUND_DAYS", 90, high=3650, low=1),
        # Where photos were kept before they moved into the database (migration 0019 reads
        # them from here once).
        "UPLOAD_FOLDER": str(instance_path / "uploads"),
    }


def _number(env: _Source, name: str, default: int, high: int = 24 * 60, low: int = 0) -> int:
    """A whole number from `low` to `high` (minutes unless said otherwise)."""
    return env.int(
        name, default, validate=Range(low, high, error=f"must be between {low} and {high}")
    )


def _engine_options(database_url: str, production: bool) -> dict:
    # In production a database error's text (in the log, in an error report) leaves out the
    # statement's values: they are phones, names and codes.
    hidden = {"hide_parameters": True} if production else {}
    if database_url.startswith("sqlite"):
        # Writers wait for each other (app/core/database.py sets the busy timeout).
        return {"connect_args": {"check_same_thread": False}, **hidden}
    return {"pool_pre_ping": True, **hidden}
