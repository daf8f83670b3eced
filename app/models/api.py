"""API tokens: a bearer token speaks for one person with that person's permissions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime
from app.models.people import Person


class ApiToken(Model):
    """Only the SHA-256 of a token is kept; the token itself is shown once, when made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship()


class IdempotencyRecord(Model):
    """The first response to a POST made with an `Idempotency-Key` header, kept so that a
    retry with the same key and body gets the same answer (and nothing happens twice).

    Written in the same transaction as the work it answers for, so a key is never stored
    for work that did not happen. Keys are per person (two clients may both use "1")."""

    __tablename__ = "api_idempotency_records"
    # Ids are never reused (SQLite would reuse a purged one): services' keys are made of them.
    __table_args__ = (UniqueConstraint("person_id", "key"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    key: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the method, path and canonical JSON body.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RateLimitCounter(Model):
    """A fixed-window counter of Flask-Limiter, kept in the database so that every worker
    process counts together when there is no Redis (`app.rate_limits`)."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
