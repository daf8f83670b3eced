"""The application factory: config → extensions → request handling → blueprints → errors → CLI."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Flask, g, redirect, request, session, url_for
from flask.json.provider import DefaultJSONProvider
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect

from app.core import config
from app.core.extensions import babel, csrf, db, limiter, login_manager

if TYPE_CHECKING:
    from sentry_sdk.types import Event

ROOT = Path(__file__).resolve().parent.parent


def _resources() -> Path:
    """Where templates, static files, translations and migrations are: the checkout this
    code runs from, or, installed with pip, <prefix>/share/linli (pyproject's data-files)."""
    if (ROOT / "templates").is_dir():
        return ROOT
    return Path(sys.prefix) / "share" / "linli"


RESOURCES = _resources()
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
log = logging.getLogger("linli.request")
started_log = logging.getLogger("linli.app")


def create_app(overrides: dict | None = None) -> Flask:
    # A checkout keeps its data in instance/; an installed server where LINLI_INSTANCE_PATH
    # says (the systemd units in deploy/ say /var/lib/linli), else <prefix>/var/linli.
    default_instance = (
        ROOT / "instance" if RESOURCES == ROOT else Path(sys.prefix) / "var" / "linli"
    )
    instance_path = Path(os.environ.get("LINLI_INSTANCE_PATH") or default_instance).resolve()
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(RESOURCES / "templates"),
        static_folder=str(RESOURCES / "static"),
    )
    app.config.update(config.load(instance_path))
    app.config.update(overrides or {})
    # JSON answers carry Chinese as it is (张明), not as \u escapes: readable in a terminal.
    if isinstance(app.json, DefaultJSONProvider):
        app.json.ensure_ascii = False
    register_logging(app)
    register_error_reporting(app)
    register_extensions(app)
    register_request_hooks(app)
    from app.web import IdConverter

    app.url_map.converters["int"] = IdConverter
    register_blueprints(app)
    register_static_fingerprints(app)
    register_error_handlers(app)
    register_cli(app)
    # Once per process that builds the app: under gunicorn's preload, once per server (a
    # worker that crashed is forked again, not rebuilt; tests/test_crash_loop.py counts it).
    started_log.log(
        # Said under gunicorn (where it shows preload at work); a cron command stays quiet.
        logging.INFO if serving_the_web() else logging.DEBUG,
        "app built: %s mode, %s database, pid %s",
        app.config["LINLI_ENV"],
        app.config["SQLALCHEMY_DATABASE_URI"].partition(":")[0],
        os.getpid(),
    )
    return app


def register_logging(app: Flask) -> None:
    class RequestIdFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            try:
                record.request_id = g.get("request_id", "-")
            except RuntimeError:  # outside a request
                record.request_id = "-"
            return True

    root = logging.getLogger("linli")
    if not root.handlers:
        handler = logging.StreamHandler()
        if app.config["LOG_FORMAT"] == "json":
            # One JSON object a line; a request's line carries its fields (finish_request).
            from pythonjsonlogger.json import JsonFormatter

            handler.setFormatter(
                JsonFormatter(
                    "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
                    rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                )
            )
        else:
            handler.setFormatter(
                logging.Formatter(
                    "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
                )
            )
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    for name in ("app", "volunteers", "merchants"):
        logging.getLogger(name).parent = root


def register_error_reporting(app: Flask) -> None:
    """Unexpected errors to Sentry (or a service speaking its protocol) when SENTRY_DSN is
    set: the exception and where it happened, never who asked or what they sent."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration()],
        environment=app.config["LINLI_ENV"],
        send_default_pii=False,  # no addresses, cookies or user
        max_request_body_size="never",  # no form fields (a phone, a code, a password)
        include_local_variables=False,  # a frame's variables hold the same
        before_send=_without_personal_data,
    )


def _without_personal_data(event: Event, _hint: dict[str, Any]) -> Event:
    """What Sentry keeps of a request: the method and the URL without its query."""
    asked = event.get("request")
    if asked:
        headers: dict[str, str] = dict(asked.get("headers") or {})  # type: ignore[call-overload]
        event["request"] = {
            "method": asked.get("method"),
            "url": asked.get("url"),
            "headers": {
                name: value
                for name, value in headers.items()
                if name.lower() in ("user-agent", "accept-language", "x-request-id")
            },
        }
    return event


def register_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (every table, for Alembic)
    from app.core import (  # noqa: F401
        database,  # SQLite pragmas, BEGIN IMMEDIATE
        rate_limits,  # registers linli-db:// with Flask-Limiter
        translations,
    )

    db.init_app(app)
    app.config["LINLI_MIGRATIONS"] = str(RESOURCES / "migrations")
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(
            translations.compiled(
                RESOURCES / "translations",
                # An install never writes into its prefix: its catalogs go to the instance.
                ROOT / "translations"
                if RESOURCES == ROOT
                else Path(app.instance_path) / "translations",
                fallback=Path(app.instance_path) / "translations",
            )
        ),
    )
    limiter.init_app(app)
    login_manager.init_app(app)
    # Residents sign in with an SMS code; staff and shop operators with their password.
    login_manager.login_view = "volunteers.signin_phone"
    login_manager.blueprint_login_views = {"panel": "auth.login", "merchants": "auth.login"}
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    from sqlalchemy.orm import joinedload

    from app.models import Person

    @login_manager.user_loader
    def load_user(user_id: str):
        # "<id>.<session version>" (Person.get_id): a cookie of an ended session finds nobody.
        person_id, _dot, version = user_id.partition(".")
        if not (person_id.isdigit() and version.isdigit()):
            return None
        # With their roles, in the same statement: every signed-in page's menu asks them.
        person = db.session.get(Person, int(person_id), options=[joinedload(Person.roles)])
        if person is None or person.session_version != int(version) or not person.is_active:
            return None  # ended by sign-out, a new password, or deactivation
        return person


def select_locale() -> str:
    """?lang= (remembered in the session), then the user's setting, then the browser, then zh."""
    from flask import current_app, has_request_context
    from flask_login import current_user

    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = request.args.get("lang")
    if chosen is not None and chosen in languages:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in languages:
        return session["lang"]
    if current_user and current_user.is_authenticated:
        return current_user.locale
    return request.accept_languages.best_match(languages) or "zh"


def register_request_hooks(app: Flask) -> None:
    from app.core import audit, metrics
    from app.core.database import after_commit, commit_unit_of_work, mark_read_only, reset_read_only

    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Behind N reverse proxies, the client's address is in X-Forwarded-For.
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Wrapping wsgi_app is Flask's documented way to add WSGI middleware.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )

    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # Reads begin deferred on SQLite; anything else takes the write lock (app.database).
        view = app.view_functions.get(request.endpoint or "")
        g.read_only_token = mark_read_only(
            request.method in ("GET", "HEAD", "OPTIONS") or getattr(view, "linli_reads_only", False)
        )
        g.client_ip_token = audit.bind_client_ip(request.remote_addr)

    @app.after_request
    def finish_request(response):
        # One commit per request, for requests that may change state and did not fail.
        if request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400:
            if app.config["DEMO_MODE"]:
                # No worker in development: what fell due is delivered (shown) right away.
                from app.channels import delivery
                from app.core import clock

                after_commit(lambda: delivery.deliver_due(clock.now, limit=50))
            commit_unit_of_work()
        response.headers["X-Request-ID"] = g.get("request_id", "")
        _security_headers(app, response)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        endpoint = request.endpoint or "none"  # "none": no route (a 404), never the raw path
        metrics.HTTP_REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.HTTP_DURATION.labels(endpoint).observe(elapsed / 1000)
        # A probe every few seconds would drown the log: health checks only at debug.
        fields = {
            "method": request.method,
            "path": _loggable_path(request.path, request.args),
            "status": response.status_code,
            "duration_ms": round(elapsed, 1),
            "endpoint": endpoint,
            "client": request.remote_addr,
            "user_id": _user_id(),
        }
        log.log(
            logging.DEBUG if request.blueprint == "ops" else logging.INFO,
            "%(method)s %(path)s %(status)s %(duration_ms).1fms client=%(client)s user=%(user_id)s",
            fields,
            extra=fields,
        )
        return response

    @app.teardown_request
    def end_request(_exc):
        token = g.pop("read_only_token", None)
        if token is not None:
            reset_read_only(token)
        ip_token = g.pop("client_ip_token", None)
        if ip_token is not None:
            audit.unbind_client_ip(ip_token)

    @app.template_filter("local")
    def local_time(moment, community=None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        """A UTC time shown in the community's zone (the deployment's when none is given)."""
        from app.core import clock

        return clock.local(moment, community).strftime(pattern) if moment else ""

    @app.template_filter("masked_name")
    def masked_name(name: str) -> str:
        """A person's name as the public and their neighbours see it (张*明)."""
        from app.core.text import mask_name

        return mask_name(name or "")

    @app.template_filter("dict_without")
    def dict_without(mapping, *keys) -> dict:
        return {k: v for k, v in mapping.items() if k not in keys}

    @app.template_filter("community_name")
    def community_name(community_id) -> str:
        from app.core.extensions import db
        from app.models import OrgUnit

        node = db.session.get(OrgUnit, community_id) if community_id else None
        return node.name if node else ""

    @app.context_processor
    def template_globals():
        from flask_babel import get_locale

        return {
            "demo_mode": app.config["DEMO_MODE"],
            "current_locale": str(get_locale()),
        }


# Scripts only from our own files (no inline script, no handler attributes); pygal's charts
# are SVG with their own <style>, so inline styles are allowed. Nothing may frame a page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _security_headers(app: Flask, response) -> None:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if app.config.get("HSTS"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    # Pages for one person (signed in) and the staff and shop pages are never kept in a
    # shared or browser cache; public pages and static files keep their own rules.
    # With the database down, who is signed in cannot be known (and is not asked).
    personal = (
        request.blueprint in ("panel", "merchants")
        or g.get("database_down")
        or (request.endpoint != "static" and _signed_in())
    )
    if personal:
        response.headers["Cache-Control"] = "no-store"


# Query parameters whose values may be logged; any other value (a phone searched for, a
# code) is logged as "…", so that no personal data reaches the log.
LOGGED_PARAMETERS = frozenset({"lang", "page", "month", "period", "scope", "kind", "status", "day"})


def _loggable_path(path: str, args) -> str:
    """The request's path for the log: without a one-time set-password link's token, and
    with the values of query parameters outside LOGGED_PARAMETERS left out."""
    if path.startswith("/set-password/"):
        path = "/set-password/…"
    if args:
        path += "?" + "&".join(
            # Quoted: a value with a line break cannot forge a line of the log.
            f"{quote(name)}={quote(value) if name in LOGGED_PARAMETERS else '…'}"
            for name, value in args.items(multi=True)
        )
    return path


def _signed_in() -> bool:
    """Whether a signed-in person made the request: the person as the request loaded them,
    without a query (after the commit their attributes are expired, and reading one, even
    `is_active`, would load the row again); when the request never asked, asked now."""
    from flask_login import current_user

    user = g.get("_login_user")
    if user is None:
        return current_user.is_authenticated  # not asked yet: asked now, as before
    return not user.is_anonymous


def _user_id() -> int | None:
    """Who made the request, if the request already asked (never a query for the log: the
    id from the session's identity map, not the expired attribute)."""
    user = g.get("_login_user")
    if user is None or user.is_anonymous:
        return None
    identity = sa_inspect(user).identity
    return identity[0] if identity else None


# A year: a static file's URL names its content (?v=), so a changed file has a new URL.
STATIC_MAX_AGE = 365 * 24 * 3600


def register_static_fingerprints(app: Flask) -> None:
    """Every url_for('static', …) carries `v`, a hash of the file's content: a browser (and
    nginx, deploy/nginx.conf) may keep the file a year, and a release is seen at once."""
    static = Path(app.static_folder or RESOURCES / "static").resolve()

    @functools.cache
    def fingerprint(filename: str, modified: float) -> str:
        return hashlib.sha256((static / filename).read_bytes()).hexdigest()[:12]

    def current(filename: str) -> str | None:
        path = static / filename
        if not path.resolve().is_relative_to(static) or not path.is_file():
            return None
        return fingerprint(filename, path.stat().st_mtime)

    @app.url_defaults
    def add_fingerprint(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = current(values["filename"])
            if version:
                values["v"] = version

    @app.get("/favicon.ico")
    def favicon():
        # Browsers ask for it on pages that name no icon (the projector's, the hall's TV).
        response = redirect(url_for("static", filename="favicon.svg"), code=301)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    @app.after_request
    def cache_fingerprinted(response):
        if request.endpoint == "static" and response.status_code == 200:
            filename = (request.view_args or {}).get("filename", "")
            if request.args.get("v") and request.args.get("v") == current(filename):
                response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}, immutable"
        return response


def register_blueprints(app: Flask) -> None:
    from app.api import bp as api_bp
    from app.api.docs import pages as api_pages
    from app.auth import bp as auth_bp
    from app.chat import bp as chat_bp
    from app.ops import bp as ops_bp
    from app.panel import bp as panel_bp
    from merchants import bp as merchants_bp
    from volunteers import bp as volunteers_bp

    app.register_blueprint(volunteers_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(panel_bp, url_prefix="/panel")
    app.register_blueprint(merchants_bp, url_prefix="/m")
    app.register_blueprint(chat_bp, url_prefix="/chat")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(api_pages, url_prefix="/api")
    app.register_blueprint(ops_bp)


def register_error_handlers(app: Flask) -> None:
    from app.web import register_error_handlers as register

    register(app)


def serving_the_web() -> bool:
    """True in a process gunicorn serves: it never runs a command."""
    return "gunicorn" in sys.modules


def register_cli(app: Flask) -> None:
    """Linli's commands and Flask-Migrate's (`linli db …`), except in a web server: it runs
    no command, and importing them (Alembic above all) was a third of the time a worker
    took to start without preload (bench/startup.py)."""
    if serving_the_web():
        return
    from flask_migrate import Migrate

    from app.cli import bp as cli_bp

    Migrate(app, db, directory=app.config["LINLI_MIGRATIONS"])
    app.register_blueprint(cli_bp)
