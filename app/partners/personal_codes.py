"""A volunteer's personal code for merchants: a QR token and 8 digits, 60 s, single use.

The QR token is `<row id>.<random secret>` signed with the app secret (a forged token is
refused without a database lookup, and logged); the row keeps only a hash of the secret.
The 8 digits are for merchants who type; they are unique among live codes. Neither form
says anything about the person: only the server can tell whose code it is. Eight, not six:
at city scale thousands of codes are live at once, and each typed guess hits one of them
with a chance of live codes / 10^digits (app.redemptions counts and pauses wrong guesses).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, Signer

from app.core import strikes
from app.core.database import insert_id_unless_taken, rows_changed
from app.core.errors import CodeExpired, InvalidCode
from app.core.extensions import db
from app.models import Person, PersonalCode
from app.models.base import table_of

log = logging.getLogger(__name__)

LIFETIME = timedelta(seconds=60)
# A code read out or typed from a text message or another app needs longer than one on a
# screen a shop scans.
READ_OUT_LIFETIME = timedelta(minutes=5)
DIGITS = 8
_REFRESH = _l("Ask the volunteer to refresh their code and scan again.")


@dataclass(frozen=True)
class UsedCode:
    person_id: int
    code_id: int


@dataclass(frozen=True)
class IssuedCode:
    token: str
    digits: str
    expires_at: datetime


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt="linli.personal-code")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(person: Person, *, now: datetime, lifetime: timedelta = LIFETIME) -> IssuedCode:
    """A fresh code for `person` (60 s on a screen; longer read out from a text message).

    The digits are claimed by one INSERT … ON CONFLICT DO NOTHING. Digits still held by an
    expired code are freed only when a draw meets them (`purge`, run daily, frees the rest),
    so issuing a code writes one row, not a sweep of the table.
    """
    secret = secrets.token_urlsafe(16)
    for _attempt in range(20):
        digits = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
        code_id = insert_id_unless_taken(
            PersonalCode,
            dict(
                person_id=person.id,
                digits=digits,
                secret_hash=_hash(secret),
                created_at=now,
                expires_at=now + lifetime,
            ),
        )
        if code_id is None:  # live for someone else (draw again), or expired: free them first
            db.session.execute(
                sa.delete(PersonalCode)
                .where(PersonalCode.digits == digits, _purgeable(now))
                .execution_options(synchronize_session=False)
            )
            continue
        token = _signer().sign(f"{code_id}.{secret}").decode()
        return IssuedCode(token, digits, now + lifetime)
    raise RuntimeError("no free code after 20 draws")


def _purgeable(now: datetime) -> sa.ColumnElement[bool]:
    # Kept a while past expiry, so a late scan is told "expired", not "unknown".
    return PersonalCode.expires_at < now - LIFETIME


def purge(now: datetime) -> int:
    """Forget codes long expired, so their digits can be drawn again; returns how many."""
    return rows_changed(sa.delete(PersonalCode).where(_purgeable(now)))


def looks_signed(token: str) -> bool:
    """Whether a token carries our signature (it may still be used or expired)."""
    try:
        _signer().unsign(token or "")
    except BadSignature:
        return False
    return True


def _parse(text: str) -> tuple[str | None, int | None, str | None]:
    """What a code names: (typed digits, None, None) or (None, row id, secret of a signed
    QR token). A token without our signature is refused (and logged) before any lookup."""
    text = "".join((text or "").split())
    if text.isdigit() and len(text) == DIGITS:
        return text, None, None
    try:
        row_id, secret = _signer().unsign(text).decode().split(".", 1)
        return None, int(row_id), secret
    except (BadSignature, ValueError, UnicodeDecodeError):
        log.warning("refused a forged or unreadable personal code: %r", text[:120])
        raise InvalidCode(_l("This is not a Linli volunteer code."), field="code") from None


_table = table_of(PersonalCode)


def _named(typed: bool) -> sa.ColumnElement[bool]:
    """The code as the shop gave it: typed digits, or a scanned token's row and secret."""
    if typed:
        return _table.c.digits == sa.bindparam("typed_digits")
    return sa.and_(
        _table.c.id == sa.bindparam("code_id"),
        _table.c.secret_hash == sa.bindparam("code_secret_hash"),
    )


@functools.cache
def _spend(typed: bool, guarded: bool) -> sa.Update:
    # Built once for each form: every sale runs one.
    where = [_named(typed), _table.c.used_at.is_(None), _table.c.expires_at > sa.bindparam("now")]
    if guarded:
        where.append(strikes.not_paused())
    return (
        sa.update(_table)
        .where(*where)
        .values(used_at=sa.bindparam("now"))
        .returning(_table.c.person_id, _table.c.id)
    )


def use(text: str, *, now: datetime, unless_paused: Sequence[str] = ()) -> UsedCode:
    """Spend a code (scanned token or typed digits) and say whose it was.

    Single use: the code is marked used by one conditional update, so two merchants
    scanning the same code at once cannot both succeed. Raises CodeExpired or InvalidCode.

    `unless_paused` (strikes.pause_keys): nothing is spent while one of these subjects is
    paused, asked in the same update; the caller then says so (the error raised here is
    about the code, which was not tried).
    """
    digits, row_id, secret = _parse(text)
    typed = digits is not None
    params = (
        {"typed_digits": digits}
        if typed
        else {"code_id": row_id, "code_secret_hash": _hash(secret or "")}
    )
    guard = {"paused_keys": list(unless_paused)} if unless_paused else {}
    taken = db.session.execute(
        _spend(typed, bool(unless_paused)), {**params, **guard, "now": now}
    ).first()
    if taken is not None:
        return UsedCode(taken.person_id, taken.id)
    # Refused: say why (one more read, only on this path).
    row = db.session.execute(sa.select(_table.c.used_at).where(_named(typed)), params).first()
    if row is None:
        raise InvalidCode(_l("No volunteer has this code. %(hint)s"), field="code", hint=_REFRESH)
    if row.used_at is not None:
        raise CodeExpired(_l("This code was already used. %(hint)s"), field="code", hint=_REFRESH)
    raise CodeExpired(_l("This code has expired. %(hint)s"), field="code", hint=_REFRESH)
