"""Making, finding and revoking API tokens (stored hashed; shown once)."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.core import audit
from app.core.errors import NotFound
from app.core.extensions import db
from app.core.text import one_line
from app.models import ApiToken, Person

PREFIX = "linli_"
MARK_EVERY = timedelta(minutes=10)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    person: Person, *, name: str, actor: Person | None, now: datetime, source: str = "cli"
) -> tuple[ApiToken, str]:
    """A new token for `person`; returns the row and the token text (never stored)."""
    name = one_line(
        name or "api",
        field="name",
        max_length=100,
        required=_l("A name is required."),
        too_long=_l("The name is longer than %(max)s characters."),
    )
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(person_id=person.id, name=name, token_hash=_digest(token), created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record(
        "api_token.create",
        row,
        actor=actor,
        source=source,
        now=now,
        after={"name": name, "person_id": person.id},
    )
    return row, token


def authenticate(token: str, *, now: datetime) -> ApiToken | None:
    """The token row (its `person` speaks), or None: unknown, revoked, person deactivated."""
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = db.session.execute(_by_digest(), {"digest": _digest(token)}).unique().scalar_one_or_none()
    if row is None or row.revoked_at is not None or not row.person.is_active:
        return None
    return row


@functools.cache
def _by_digest() -> sa.Select:
    # Built once (every API request runs it). The person and their roles with the token:
    # every API request asks who may do what.
    return (
        sa.select(ApiToken)
        .where(ApiToken.token_hash == sa.bindparam("digest"))
        .options(joinedload(ApiToken.person).joinedload(Person.roles))
    )


def needs_marking(row: ApiToken, now: datetime) -> bool:
    return row.last_used_at is None or row.last_used_at <= now - MARK_EVERY


def mark_used(token_id: int, now: datetime) -> None:
    """Note when a token was last used (at most every few minutes: one write, not one per
    request), so that staff can see which tokens are still in use."""
    db.session.execute(
        sa.update(ApiToken)
        .where(
            ApiToken.id == token_id,
            sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - MARK_EVERY),
        )
        .values(last_used_at=now)
    )


def revoke(token_id: int, *, actor: Person | None, now: datetime, source: str = "cli") -> ApiToken:
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(_l("There is no such token."), field="token")
    if row.revoked_at is None:
        row.revoked_at = now
        db.session.flush()
        audit.record("api_token.revoke", row, actor=actor, source=source, now=now)
    return row


def listing(limit: int = 500) -> list[ApiToken]:
    """The newest tokens first, with their people (the panel filters what a worker sees)."""
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .options(joinedload(ApiToken.person))
            .order_by(ApiToken.id.desc())
            .limit(limit)
        )
    )
