"""Signing in with a phone number and a 6-digit code sent by SMS.

A code is valid for 5 minutes and for one use; only a keyed hash of it is stored (a stolen
database does not give away live codes). Five wrong guesses kill the code and start a
15-minute cool-down for the phone. A phone gets a new code at most once a minute and five
times an hour, so the server cannot be used to flood someone with messages.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.channels import outbox
from app.core import clock, metrics
from app.core.errors import (
    BusinessRuleError,
    CodeExpired,
    CodeRecentlySent,
    InvalidCode,
    TooManyAttempts,
)
from app.core.extensions import db
from app.core.phones import normalize_phone
from app.models import OutboxMessage, SignInCode
from app.models.base import table_of
from app.people import people

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
COOL_DOWN = timedelta(minutes=15)
RESEND_AFTER = timedelta(seconds=60)
MAX_PER_HOUR = 5


def _digest(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"sign-in:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _minutes_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds() / 60))


def _locked(until: datetime, now: datetime, field: str) -> TooManyAttempts:
    """The phone's cool-down, said with the time it ends (the deployment's zone)."""
    return TooManyAttempts(
        _l("Too many wrong codes. Try again at %(time)s (in %(minutes)s minutes)."),
        field=field,
        time=clock.local(until, None).strftime("%H:%M"),
        minutes=_minutes_until(until, now),
    )


def _lock_end(phone: str, now: datetime) -> datetime | None:
    """When the phone's cool-down after five wrong codes ends; None when it has none."""
    locked_at = db.session.scalar(
        sa.select(sa.func.max(SignInCode.locked_at)).where(
            SignInCode.phone == phone, SignInCode.locked_at > now - COOL_DOWN
        )
    )
    return locked_at + COOL_DOWN if locked_at else None


def send_code(raw_phone: str, *, now: datetime, locale: str) -> OutboxMessage:
    """Queue a new sign-in code for the phone and return the outbox message.

    Raises InvalidPhone, BusinessRuleError for accounts that sign in with a password, and
    TooManyAttempts while the phone is cooling down or asked too often.
    """
    phone = normalize_phone(raw_phone)
    person = people.find_by_phone(phone)
    if person is not None and person.password_hash:
        raise BusinessRuleError(
            _l("Staff and red partner accounts sign in with their password."), field="phone"
        )
    if outbox.texts_stopped(phone):
        # The carriers (and Twilio) send nothing to a number that texted STOP, a code included.
        raise BusinessRuleError(
            _l(
                "This number texted STOP, so no code can be sent to it. Text START (订阅) from "
                "this phone to your community's Linli number, then ask for a code again."
            ),
            field="phone",
        )
    recent = db.session.scalars(
        sa.select(SignInCode)
        .where(SignInCode.phone == phone, SignInCode.created_at > now - timedelta(hours=1))
        .order_by(SignInCode.created_at.desc())
    ).all()
    locked = [c.locked_at for c in recent if c.locked_at and c.locked_at > now - COOL_DOWN]
    if locked:
        raise _locked(max(locked) + COOL_DOWN, now, "phone")
    if recent and recent[0].created_at > now - RESEND_AFTER:
        # Nothing is sent: the code sent a moment ago is the one to enter, and the person
        # must not wait for a second message that never comes.
        raise CodeRecentlySent(
            _l(
                "No new code was sent: the one sent at %(time)s is still valid, enter it. "
                "You can ask for another in %(seconds)s seconds."
            ),
            field="phone",
            time=clock.local(recent[0].created_at, None).strftime("%H:%M"),
            seconds=math.ceil((recent[0].created_at + RESEND_AFTER - now).total_seconds()),
        )
    if len(recent) >= MAX_PER_HOUR:
        raise TooManyAttempts(
            _l("Too many codes were sent to this phone. Try again in %(minutes)s minutes."),
            field="phone",
            minutes=_minutes_until(recent[-1].created_at + timedelta(hours=1), now),
        )
    # Only the newest code works: an older one still in an inbox is retired.
    db.session.execute(
        sa.update(SignInCode)
        .where(SignInCode.phone == phone, SignInCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    db.session.add(
        SignInCode(
            phone=phone, code_hash=_digest(phone, code), created_at=now, expires_at=now + CODE_TTL
        )
    )
    with force_locale(person.locale if person else locale):
        body = _(
            "Linli sign-in code: %(code)s (valid for 5 minutes). "
            "Never tell it to anyone, not even staff.",
            code=code,
        )
    message = outbox.queue(kind="sign_in_code", body=body, now=now, person=person, phone=phone)
    assert message is not None  # a sign-in code is urgent: 退订 never holds it back
    return message


def check_code(raw_phone: str, code: str, *, now: datetime) -> str:
    """Use the phone's current code; return the phone (E.164) when the code is right.

    Every guess is counted before it is compared, by an atomic update, so parallel
    guesses cannot get more than MAX_ATTEMPTS tries. The caller commits even when this
    raises, so that a wrong guess stays counted.
    """
    phone = normalize_phone(raw_phone)
    typed = "".join((code or "").split())
    if not (typed.isdigit() and len(typed) == CODE_DIGITS):
        raise InvalidCode(_l("The code has 6 digits."), field="code")
    current = db.session.scalar(
        sa.select(SignInCode)
        .where(SignInCode.phone == phone, SignInCode.used_at.is_(None))
        .order_by(SignInCode.created_at.desc())
        .limit(1)
    )
    if current is None or current.expires_at <= now:
        # Five wrong codes retired the last one: say so, not "expired".
        until = _lock_end(phone, now)
        raise _locked(until, now, "code") if until else CodeExpired(field="code")
    table = table_of(SignInCode)
    counted = db.session.execute(
        sa.update(table)
        .where(table.c.id == current.id, table.c.attempts < MAX_ATTEMPTS, table.c.used_at.is_(None))
        .values(attempts=table.c.attempts + 1)
        .returning(table.c.attempts)
    ).first()
    if counted is None:
        raise CodeExpired(field="code")
    attempts = counted[0]
    if not hmac.compare_digest(current.code_hash, _digest(phone, typed)):
        if attempts >= MAX_ATTEMPTS:
            db.session.execute(
                sa.update(table).where(table.c.id == current.id).values(locked_at=now, used_at=now)
            )
            metrics.SIGNIN_FAILURES.labels("sms_code").inc()
            metrics.LOCKOUTS.labels("signin-code:phone").inc()
            raise _locked(now + COOL_DOWN, now, "code")
        metrics.SIGNIN_FAILURES.labels("sms_code").inc()
        raise InvalidCode(
            _l("The code is wrong. %(left)s tries left."),
            field="code",
            left=MAX_ATTEMPTS - attempts,
        )
    used = db.session.execute(
        sa.update(table)
        .where(table.c.id == current.id, table.c.used_at.is_(None))
        .values(used_at=now)
        .returning(table.c.id)
    ).first()
    if used is None:  # a parallel request used it a moment ago
        raise CodeExpired(field="code")
    return phone
