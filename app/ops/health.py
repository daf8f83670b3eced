"""/healthz and /readyz (see the package's docstring)."""

from __future__ import annotations

import functools
import logging

import sqlalchemy as sa
from flask import current_app, jsonify

from app.core.extensions import db, limiter
from app.ops import bp
from app.web import RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return _answer({"status": "ok"}, 200)


@bp.get("/readyz")
@limiter.exempt
def readyz():
    checks = {"database": _database(), **_redis()}
    ready = all(value == "ok" for value in checks.values())
    response = _answer({"status": "ok" if ready else "unavailable", "checks": checks}, 200)
    if not ready:
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _answer(body: dict, status: int):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _database() -> str:
    """'ok', or what is wrong: unreachable, or a schema behind (or ahead of) the code."""
    try:
        stored = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()  # nothing to keep, and no failed transaction left open
        log.warning("readiness: the database did not answer: %s", type(exc).__name__)
        return "unreachable"
    head = _migrations_head()
    if stored != head:
        return f"schema at {stored or 'nothing'}, the code needs {head}"
    return "ok"


@functools.cache
def _migrations_head() -> str:
    """The newest migration this code carries (read from migrations/ once per process)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(current_app.config["LINLI_MIGRATIONS"])
    return script.get_current_head() or ""


def _redis() -> dict[str, str]:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return {}
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        log.warning("readiness: Redis did not answer: %s", type(exc).__name__)
        return {"redis": "unreachable"}
    return {"redis": "ok"}
