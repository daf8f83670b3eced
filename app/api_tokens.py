"""Making, finding and revoking API tokens (stored hashed; shown once)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import audit
from app.errors import NotFound
from app.extensions import db
from app.models import ApiToken, Person
from app.text import one_line

PREFIX = "linli_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    person: Person, *, name: str, actor: Person | None, now: datetime
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
    audit.record("api_token.create", row, actor=actor, source="cli", now=now, after={"name": name})
    return row, token


def authenticate(token: str, *, now: datetime) -> Person | None:
    """The person a bearer token speaks for, or None (unknown, revoked, deactivated)."""
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = db.session.scalar(sa.select(ApiToken).filter_by(token_hash=_digest(token)))
    if row is None or row.revoked_at is not None or not row.person.is_active:
        return None
    return row.person


def revoke(token_id: int, *, actor: Person | None, now: datetime) -> ApiToken:
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(_l("There is no such token."), field="token")
    if row.revoked_at is None:
        row.revoked_at = now
        db.session.flush()
        audit.record("api_token.revoke", row, actor=actor, source="cli", now=now)
    return row
