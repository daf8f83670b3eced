"""Rotating scan codes: the QR token and the 4-digit text code on an activity's screen.

Check-in codes rotate every ROTATION_SECONDS: a code is the activity id and the rotation
number, signed (itsdangerous) with the app secret. The current and the previous rotation
are accepted, so a scan at the boundary works and a screenshot stops working within a
minute. Wrong text codes are strikes against the sender (app.core.strikes).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, Signer
from sqlalchemy.orm import joinedload

from app.activities import attendance
from app.activities.activities import get_activity
from app.channels import outbox
from app.core import strikes
from app.core.errors import (
    CodeExpired,
    InvalidCode,
)
from app.core.extensions import db
from app.models import Activity, Person
from app.models.org import TeamMember
from app.people import people

log = logging.getLogger(__name__)

ROTATION_SECONDS = 30
SCAN_KINDS = ("in", "out")
# The projector shows the check-out code from this long before the scheduled end.
CHECKOUT_CODE_LEAD = timedelta(minutes=30)


# --- rotating scan codes ------------------------------------------------------------------


def _signer(kind: str) -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=f"linli.scan.{kind}")


def rotation(now: datetime) -> int:
    return int(now.timestamp()) // ROTATION_SECONDS


def seconds_to_next_rotation(now: datetime) -> float:
    return ROTATION_SECONDS - (now.timestamp() % ROTATION_SECONDS)


def scan_token(activity: Activity, kind: str, now: datetime) -> str:
    """The token in the QR code on the projector for this rotation."""
    if kind not in SCAN_KINDS:
        raise ValueError(kind)
    return _signer(kind).sign(f"{activity.id}.{rotation(now)}").decode()


def read_scan_token(token: str, kind: str, now: datetime) -> Activity:
    """The activity a scanned token is for; refuses forged, tampered and expired tokens."""
    if kind not in SCAN_KINDS:
        raise InvalidCode(field="code")
    try:
        payload = _signer(kind).unsign(token or "").decode()
        activity_id, period = (int(part) for part in payload.split("."))
    except (BadSignature, ValueError, UnicodeDecodeError):
        log.warning("refused a forged or tampered %s code: %r", kind, (token or "")[:120])
        raise InvalidCode(
            _l("This is not a valid check-in code. Scan the code on the screen."), field="code"
        ) from None
    current = rotation(now)
    if period not in (current, current - 1):
        raise CodeExpired(_l("This code has expired, scan the screen again."), field="code")
    return get_activity(activity_id)


def short_code(
    activity: Activity, kind: str, now: datetime, *, rotation_no: int | None = None
) -> str:
    """The 4-digit code beside the QR on the projector (for 签到 1234 by text message).

    It rotates with the QR code; a keyed hash of activity, kind and rotation, so nobody
    can work it out without the screen.
    """
    period = rotation(now) if rotation_no is None else rotation_no
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"short:{kind}:{activity.id}:{period}".encode(), hashlib.sha256)
    return f"{int.from_bytes(digest.digest()[:4], 'big') % 10_000:04d}"


def _alert_guessing(activity_id: int | str, now: datetime) -> None:
    """Tell the activity's staff that its text code is being guessed at."""
    activity = db.session.get(Activity, int(activity_id))
    if activity is None:
        return
    for worker in people.staff_of(activity.community_id):
        with force_locale(worker.locale):
            body = _(
                "Linli: %(count)s wrong check-in codes for %(title)s in the last %(minutes)s "
                "minutes. Someone may be guessing; check the attendance list.",
                count=ACTIVITY_WRONG_CODES.strikes,
                title=activity.title,
                minutes=int(ACTIVITY_WRONG_CODES.window.total_seconds() // 60),
            )
        outbox.queue(person=worker, kind="code_guessing", body=body, now=now)


# Wrong text codes (签到 1234): 5 in 10 minutes pause the person for 15 minutes, 10 in a day
# until that day's window ends. An activity is never paused (that would shut out its honest
# volunteers during the event); a flood of wrong codes for it alerts its staff instead.
PERSON_WRONG_CODES = strikes.Limit(
    "checkin:person", 5, timedelta(minutes=10), pause=timedelta(minutes=15)
)
PERSON_WRONG_CODES_DAY = strikes.Limit("checkin-day:person", 10, timedelta(hours=24))
ACTIVITY_WRONG_CODES = strikes.Limit(
    "checkin:activity", 20, timedelta(minutes=10), on_reach=_alert_guessing
)


def find_by_short_code(person: Person, code: str, kind: str, now: datetime) -> Activity:
    """The activity whose screen shows `code` now (or showed it one rotation ago).

    Only activities open for this kind of scan in the person's community and teams are
    candidates; if two match, the person is asked to scan. A wrong code is a strike against
    the person (paused at the limit, whatever they type then) and every candidate activity.
    """
    if kind not in SCAN_KINDS:
        raise InvalidCode(field="code")
    mine = [(PERSON_WRONG_CODES, person.id), (PERSON_WRONG_CODES_DAY, person.id)]
    strikes.ensure_open(mine, now)
    code = "".join(ch for ch in code or "" if ch.isdigit())
    if len(code) != 4:
        raise InvalidCode(_l("The code on the screen has 4 digits."), field="code")
    teams = sa.select(TeamMember.team_id).where(TeamMember.person_id == person.id)
    open_from = now + attendance.early_window() if kind == "in" else now
    until = now if kind == "in" else now - attendance.grace_window()
    where: list[sa.ColumnElement[bool]] = [Activity.team_id.in_(teams)]
    if person.community_id is not None:
        where.append(Activity.community_id == person.community_id)
    candidates = db.session.scalars(
        sa.select(Activity)
        .options(joinedload(Activity.community))  # for the reply's local time
        .where(
            sa.or_(*where),
            Activity.is_cancelled.is_(False),
            Activity.starts_at <= open_from,
            Activity.ends_at >= until,
        )
    ).all()
    current = rotation(now)
    matches = [
        activity
        for activity in candidates
        if code in {short_code(activity, kind, now, rotation_no=p) for p in (current, current - 1)}
    ]
    if not matches:
        raise CodeExpired(
            _l("No activity shows this code now. Check the 4 digits on the screen and send again."),
            field="code",
            strikes=mine + [(ACTIVITY_WRONG_CODES, a.id) for a in candidates],
        )
    if len(matches) > 1:
        raise InvalidCode(
            _l("Two activities show this code; please scan the QR code instead."), field="code"
        )
    return matches[0]
