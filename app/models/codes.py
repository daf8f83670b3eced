"""One-time codes: sign-in codes sent by SMS, and volunteers' personal codes for merchants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime
from app.models.people import Person


class SignInCode(Model):
    """A 6-digit code sent to a phone. Only a keyed hash of the code is stored.

    `attempts` counts wrong guesses; at the limit the code is dead and `locked_at` starts
    the phone's cool-down.
    """

    __tablename__ = "sign_in_codes"
    __table_args__ = (Index("ix_sign_in_codes_phone_created_at", "phone", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PersonalCode(Model):
    """A volunteer's short-lived, single-use code for a merchant: a QR token and 8 digits.

    The 8 digits are unique among rows (expired rows are purged before a number is reused);
    the QR token is a signed row id plus a secret whose hash is kept here. Neither holds
    anything about the person.
    """

    __tablename__ = "personal_codes"
    # Ids are never reused (expired rows are purged, and a redemption keeps the id of the
    # code it used up): AUTOINCREMENT on SQLite; PostgreSQL sequences never go back.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    digits: Mapped[str] = mapped_column(String(8), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship()


class Strike(Model):
    """Wrong guesses at a short code by one subject (a person, a shop, an activity) in a
    window; at the limit the subject is paused until `locked_until` (app.strikes).

    One row per limit and subject, counted by an atomic upsert, so every worker process
    counts together and parallel guesses cannot slip past the limit."""

    __tablename__ = "strikes"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasswordLink(Model):
    """A one-time link that lets a person set their own password (a new staff member or shop
    operator, or a reset). Sent to their phone only; only a keyed hash of the token is kept.
    A newer link, a use, or `expires_at` ends it."""

    __tablename__ = "password_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
