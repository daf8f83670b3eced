"""Activities: sign-up with a waiting list, rotating QR check-in and check-out, hours and points.

The life of an attendance: checked_in (scan at the start) → closed by a check-out scan,
by staff, or automatically after the end (then its time is "unverified") → approved
(points posted through the ledger, hours counted towards the star level) or rejected.
An activity that does not ask for approval approves a checked-out attendance at once.

Check-in codes rotate every ROTATION_SECONDS: a code is the activity id and the rotation
number, signed (itsdangerous) with the app secret. The current and the previous rotation
are accepted, so a scan at the boundary works and a screenshot stops working within a
minute.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, Signer
from sqlalchemy.exc import IntegrityError

from app.channels import outbox
from app.core import audit, clock, strikes
from app.core.errors import (
    BudgetExceeded,
    BusinessRuleError,
    CodeExpired,
    InvalidCode,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from app.core.extensions import db
from app.core.text import one_line
from app.models import Activity, Attendance, OrgUnit, Person, Signup, Team
from app.models.base import table_of
from app.models.org import TeamMember
from app.people import people
from app.points import awards, ledger

log = logging.getLogger(__name__)

ROTATION_SECONDS = 30
SCAN_KINDS = ("in", "out")
MAX_TITLE = 100
MAX_PLACE = 200
MAX_DESCRIPTION = 4000
MAX_REASON = 200
MAX_POINTS = 10_000
MAX_CAPACITY = 100_000
MAX_LENGTH = timedelta(days=7)
# The projector shows the check-out code from this long before the scheduled end.
CHECKOUT_CODE_LEAD = timedelta(minutes=30)


# --- activities ---------------------------------------------------------------------------


@dataclass
class ActivityFields:
    """What staff fill in for an activity (already parsed by the edge's form or schema)."""

    title: str
    starts_at: datetime
    ends_at: datetime
    description: str = ""
    place: str = ""
    capacity: int | None = None
    points_rule: str = "fixed"
    points: int = 0
    needs_approval: bool = False
    signup_required: bool = False
    team: Team | None = None
    category: str = "other"


def _clean(fields: ActivityFields, community: OrgUnit) -> dict:
    title = one_line(
        fields.title,
        field="title",
        max_length=MAX_TITLE,
        required=_l("A title is required."),
        too_long=_l("The title is longer than %(max)s characters."),
    )
    place = " ".join((fields.place or "").split())
    if len(place) > MAX_PLACE:
        raise InvalidInput(
            _l("The place is longer than %(max)s characters."), field="place", max=MAX_PLACE
        )
    description = (fields.description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(
            _l("The description is longer than %(max)s characters."),
            field="description",
            max=MAX_DESCRIPTION,
        )
    if fields.starts_at.tzinfo is None or fields.ends_at.tzinfo is None:
        raise ValueError("activity times must be aware datetimes")
    if fields.ends_at <= fields.starts_at:
        raise InvalidInput(_l("The end must be after the start."), field="ends_at")
    if fields.ends_at - fields.starts_at > MAX_LENGTH:
        raise InvalidInput(_l("An activity lasts at most 7 days."), field="ends_at")
    if fields.capacity is not None and not 1 <= fields.capacity <= MAX_CAPACITY:
        raise InvalidInput(
            _l("The capacity must be between 1 and %(max)s, or empty for no limit."),
            field="capacity",
            max=MAX_CAPACITY,
        )
    if fields.points_rule not in ("fixed", "per_hour"):
        raise InvalidInput(_l("Choose how points are counted."), field="points_rule")
    if type(fields.points) is not int or not 0 <= fields.points <= MAX_POINTS:
        raise InvalidInput(
            _l("Points must be a whole number from 0 to %(max)s."), field="points", max=MAX_POINTS
        )
    from app.models.deeds import DEED_CATEGORIES

    if fields.category not in DEED_CATEGORIES:
        raise InvalidInput(_l("Choose a category."), field="category")
    if fields.team is not None and fields.team.community_id != community.id:
        raise InvalidInput(_l("The team belongs to another community."), field="team")
    return {
        "title": title,
        "description": description,
        "place": place,
        "starts_at": fields.starts_at,
        "ends_at": fields.ends_at,
        "capacity": fields.capacity,
        "points_rule": fields.points_rule,
        "points": fields.points,
        "needs_approval": bool(fields.needs_approval),
        "signup_required": bool(fields.signup_required),
        "team_id": fields.team.id if fields.team else None,
        "category": fields.category,
    }


def _snapshot(activity: Activity) -> dict:
    return {
        "title": activity.title,
        "place": activity.place,
        "starts_at": activity.starts_at.isoformat(),
        "ends_at": activity.ends_at.isoformat(),
        "capacity": activity.capacity,
        "points_rule": activity.points_rule,
        "points": activity.points,
        "needs_approval": activity.needs_approval,
        "signup_required": activity.signup_required,
        "team_id": activity.team_id,
        "category": activity.category,
    }


# Hours are points: an activity longer than this, or dated further back, is for the street
# administrator to create (a worker alone could otherwise write days of service).
ADMIN_ONLY_LENGTH = timedelta(hours=24)
ADMIN_ONLY_BACKDATING = timedelta(days=7)


def _check_unusual_times(values: dict, actor: Person | None, now: datetime) -> None:
    if actor is None or actor.has_role("admin"):
        return  # the CLI and the demo seeder are the operator's
    if values["ends_at"] - values["starts_at"] > ADMIN_ONLY_LENGTH:
        raise NotPermitted(
            _l("An activity longer than 24 hours is created by the street administrator."),
            field="ends_at",
        )
    if values["starts_at"] < now - ADMIN_ONLY_BACKDATING:
        raise NotPermitted(
            _l("An activity that started more than 7 days ago is entered by the administrator."),
            field="starts_at",
        )


def create_activity(
    community: OrgUnit, fields: ActivityFields, *, actor: Person | None, now: datetime, source: str
) -> Activity:
    values = _clean(fields, community)
    _check_unusual_times(values, actor, now)
    activity = Activity(
        community_id=community.id, created_by_id=actor.id if actor else None, **values
    )
    activity.created_at = activity.updated_at = now
    db.session.add(activity)
    db.session.flush()
    audit.record(
        "activity.create", activity, actor=actor, source=source, now=now, after=_snapshot(activity)
    )
    return activity


def update_activity(
    activity: Activity, fields: ActivityFields, *, actor: Person | None, now: datetime, source: str
) -> Activity:
    """Change an activity. A smaller capacity may not drop confirmed people; a larger one
    moves people up from the waiting list."""
    values = _clean(fields, activity.community)
    if (values["starts_at"], values["ends_at"]) != (activity.starts_at, activity.ends_at):
        _check_unusual_times(values, actor, now)
    _lock(activity)
    if values["capacity"] is not None and values["capacity"] < activity.confirmed_count:
        raise BusinessRuleError(
            _l("%(count)s people are already confirmed; the capacity cannot be less."),
            field="capacity",
            count=activity.confirmed_count,
        )
    before = _snapshot(activity)
    for key, value in values.items():
        setattr(activity, key, value)
    activity.updated_at = now
    db.session.flush()
    _fill_from_waiting_list(activity, now)
    after = _snapshot(activity)
    if after != before:
        audit.record(
            "activity.update",
            activity,
            actor=actor,
            source=source,
            now=now,
            before=before,
            after=after,
        )
    return activity


def get_activity(activity_id: int, community_ids: set[int] | None = None) -> Activity:
    """The activity, if it is in one of `community_ids` (None: any community). Another
    community's activity is "not found", never a hint that it exists."""
    activity = db.session.get(Activity, activity_id)
    if activity is None or (
        community_ids is not None and activity.community_id not in community_ids
    ):
        raise NotFound(_l("There is no such activity."), field="activity")
    return activity


def _lock(activity: Activity) -> Activity:
    """Lock the activity row (sign-ups and capacity change one at a time per activity)."""
    return db.session.scalars(
        sa.select(Activity)
        .where(Activity.id == activity.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def upcoming_for(person: Person, now: datetime, limit: int = 50) -> list[Activity]:
    """Activities not yet over in the person's community or in any of their teams."""
    teams = sa.select(TeamMember.team_id).where(TeamMember.person_id == person.id)
    where: list[sa.ColumnElement[bool]] = [Activity.team_id.in_(teams)]
    if person.community_id is not None:
        where.append(Activity.community_id == person.community_id)
    return list(
        db.session.scalars(
            sa.select(Activity)
            .where(sa.or_(*where), Activity.ends_at > now, Activity.is_cancelled.is_(False))
            .order_by(Activity.starts_at, Activity.id)
            .limit(limit)
        )
    )


def for_communities(community_ids: set[int] | None, limit: int = 200) -> list[Activity]:
    """Activities staff may manage (None: every community), newest start first."""
    query = sa.select(Activity).order_by(Activity.starts_at.desc(), Activity.id.desc())
    if community_ids is not None:
        query = query.where(Activity.community_id.in_(community_ids))
    return list(db.session.scalars(query.limit(limit)))


# --- sign-up and the waiting list ---------------------------------------------------------


def signup_of(activity: Activity, person: Person) -> Signup | None:
    return db.session.scalar(
        sa.select(Signup).filter_by(activity_id=activity.id, person_id=person.id)
    )


def sign_up(activity: Activity, person: Person, *, now: datetime) -> Signup:
    """Confirm a place, or a place on the waiting list when the activity is full.

    Signing up again while signed up changes nothing. The activity row is locked, so
    concurrent sign-ups never confirm more people than the capacity.
    """
    activity = _lock(activity)
    if activity.is_cancelled:
        raise BusinessRuleError(_l("This activity was cancelled."), field="activity")
    if now >= activity.ends_at:
        raise BusinessRuleError(_l("This activity is over."), field="activity")
    signup = signup_of(activity, person)
    if signup is not None and signup.status != "cancelled":
        return signup
    full = activity.capacity is not None and activity.confirmed_count >= activity.capacity
    status = "waitlisted" if full else "confirmed"
    if signup is None:
        signup = Signup(activity_id=activity.id, person_id=person.id, created_at=now)
        db.session.add(signup)
    signup.status = status
    signup.queued_at = now
    signup.updated_at = now
    if status == "confirmed":
        activity.confirmed_count += 1
    db.session.flush()
    return signup


def cancel_signup(activity: Activity, person: Person, *, now: datetime) -> Signup | None:
    """Give up a place; the first person on the waiting list moves up and is told."""
    activity = _lock(activity)
    signup = signup_of(activity, person)
    if signup is None or signup.status == "cancelled":
        return signup
    was_confirmed = signup.status == "confirmed"
    signup.status = "cancelled"
    signup.updated_at = now
    if was_confirmed:
        activity.confirmed_count -= 1
    db.session.flush()
    _fill_from_waiting_list(activity, now)
    return signup


def _fill_from_waiting_list(activity: Activity, now: datetime) -> None:
    """Move people up from the waiting list into free places, first come first served.

    The caller holds the activity's row lock.
    """
    while activity.capacity is None or activity.confirmed_count < activity.capacity:
        waiting = db.session.scalar(
            sa.select(Signup)
            .filter_by(activity_id=activity.id, status="waitlisted")
            .order_by(Signup.queued_at, Signup.id)
            .limit(1)
        )
        if waiting is None:
            return
        waiting.status = "confirmed"
        waiting.updated_at = now
        activity.confirmed_count += 1
        db.session.flush()
        person = waiting.person
        with force_locale(person.locale):
            body = _(
                "A place came free: you are now confirmed for “%(title)s” on %(when)s.",
                title=activity.title,
                when=clock.local(activity.starts_at, activity.community).strftime("%Y-%m-%d %H:%M"),
            )
        outbox.queue(person=person, kind="signup_confirmed", body=body, now=now)


REMIND_BEFORE = timedelta(hours=1)


def send_reminders(now: datetime, limit: int = 5000) -> int:
    """Tell confirmed volunteers an hour before their activity starts (once each)."""
    due = db.session.scalars(
        sa.select(Signup)
        .join(Activity, Signup.activity_id == Activity.id)
        .where(
            Signup.status == "confirmed",
            Signup.reminded_at.is_(None),
            Activity.is_cancelled.is_(False),
            Activity.starts_at > now,
            Activity.starts_at <= now + REMIND_BEFORE,
        )
        .order_by(Signup.id)
        .limit(limit)
    ).all()
    for signup in due:
        activity, person = signup.activity, signup.person
        with force_locale(person.locale):
            body = _(
                "Reminder: %(title)s starts at %(time)s at %(place)s. Scan the code on the "
                "screen (or text 签到 and its 4 digits) when you arrive.",
                title=activity.title,
                time=clock.local(activity.starts_at, activity.community).strftime("%H:%M"),
                place=activity.place or activity.community.name,
            )
        # Urgent in its way: an hour's notice held back by quiet hours would be no notice.
        outbox.queue(person=person, kind="activity_reminder", body=body, now=now)
        signup.reminded_at = now
    db.session.flush()
    return len(due)


def waiting_position(signup: Signup) -> int:
    """1 for the first person on the waiting list."""
    ahead = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Signup)
        .where(
            Signup.activity_id == signup.activity_id,
            Signup.status == "waitlisted",
            sa.or_(
                Signup.queued_at < signup.queued_at,
                sa.and_(Signup.queued_at == signup.queued_at, Signup.id < signup.id),
            ),
        )
    )
    return (ahead or 0) + 1


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
    open_from = now + _early() if kind == "in" else now
    until = now if kind == "in" else now - _grace()
    where: list[sa.ColumnElement[bool]] = [Activity.team_id.in_(teams)]
    if person.community_id is not None:
        where.append(Activity.community_id == person.community_id)
    candidates = db.session.scalars(
        sa.select(Activity).where(
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


# --- attendance ---------------------------------------------------------------------------


def _early() -> timedelta:
    return timedelta(minutes=current_app.config["CHECKIN_EARLY_MINUTES"])


def _grace() -> timedelta:
    return timedelta(minutes=current_app.config["ATTENDANCE_GRACE_MINUTES"])


def checkin_opens_at(activity: Activity) -> datetime:
    return activity.starts_at - _early()


def checkout_closes_at(activity: Activity) -> datetime:
    return activity.ends_at + _grace()


def attendance_of(activity: Activity, person: Person) -> Attendance | None:
    return db.session.scalar(
        sa.select(Attendance).filter_by(activity_id=activity.id, person_id=person.id)
    )


def counted_minutes(activity: Activity, checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Whole minutes on site, capped at the scheduled length plus the grace."""
    worked = int((checked_out_at - checked_in_at).total_seconds() // 60)
    cap = activity.scheduled_minutes + int(_grace().total_seconds() // 60)
    return max(0, min(worked, cap))


def minimum_minutes(activity: Activity) -> int:
    """The least time on site a fixed-points activity pays for by itself (a share of the
    scheduled time, LINLI_MIN_ATTENDANCE_PERCENT); shorter stays wait for staff."""
    if activity.points_rule != "fixed":
        return 0
    return activity.scheduled_minutes * current_app.config["MIN_ATTENDANCE_PERCENT"] // 100


def points_for(activity: Activity, minutes: int) -> int:
    if activity.points_rule == "per_hour":
        return minutes * activity.points // 60
    return activity.points


def _hhmm(moment: datetime, activity: Activity) -> str:
    return clock.local(moment, activity.community).strftime("%H:%M")


@dataclass
class ScanResult:
    attendance: Attendance
    # True when this scan changed nothing (already checked in / out).
    repeated: bool


def check_in(
    activity: Activity,
    person: Person,
    *,
    now: datetime,
    method: str = "qr",
    recorded_by: Person | None = None,
) -> ScanResult:
    """Record that `person` arrived. A second check-in returns the first one unchanged.

    Staff checking someone in at the desk (method "staff") skip the sign-up rule.
    """
    existing = attendance_of(activity, person)
    if existing is not None:
        return ScanResult(existing, True)
    if activity.is_cancelled:
        raise BusinessRuleError(_l("This activity was cancelled."), field="activity")
    if now < checkin_opens_at(activity):
        raise BusinessRuleError(
            _l("Check-in opens at %(time)s, %(minutes)s minutes before the start."),
            field="activity",
            time=_hhmm(checkin_opens_at(activity), activity),
            minutes=int(_early().total_seconds() // 60),
        )
    if now > activity.ends_at:
        raise BusinessRuleError(
            _l("This activity ended at %(time)s; check-in is closed."),
            field="activity",
            time=_hhmm(activity.ends_at, activity),
        )
    if activity.signup_required and method != "staff":
        signup = signup_of(activity, person)
        if signup is None or signup.status == "cancelled":
            raise BusinessRuleError(
                _l("This activity is for people who signed up. Sign up first."), field="activity"
            )
        if signup.status == "waitlisted":
            raise BusinessRuleError(
                _l("You are on the waiting list; check-in needs a confirmed place."),
                field="activity",
            )
    attendance = Attendance(
        activity_id=activity.id,
        person_id=person.id,
        status="checked_in",
        checked_in_at=now,
        method=method,
        recorded_by_id=recorded_by.id if recorded_by else None,
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(attendance)
            db.session.flush()
    except IntegrityError:  # the same person's parallel scan got there first
        found = attendance_of(activity, person)
        assert found is not None  # what the unique constraint just met
        return ScanResult(found, True)
    if recorded_by is not None:
        audit.record(
            "attendance.check_in",
            attendance,
            actor=recorded_by,
            source="panel",
            now=now,
            after={"person_id": person.id, "activity_id": activity.id},
        )
    return ScanResult(attendance, False)


def check_out(activity: Activity, person: Person, *, now: datetime) -> ScanResult:
    """Record that `person` left; closes the attendance and, where no approval is
    needed, posts the points. A second check-out changes nothing."""
    attendance = attendance_of(activity, person)
    if attendance is None:
        raise BusinessRuleError(
            _l("You have not checked in to this activity, so you cannot check out."),
            field="activity",
        )
    if attendance.status != "checked_in":
        return ScanResult(attendance, True)
    if now > checkout_closes_at(activity):
        raise BusinessRuleError(
            _l("Check-out closed at %(time)s. Staff will close your attendance."),
            field="activity",
            time=_hhmm(checkout_closes_at(activity), activity),
        )
    table = table_of(Attendance)
    claimed = db.session.execute(
        sa.update(table)
        .where(table.c.id == attendance.id, table.c.status == "checked_in")
        .values(status="pending", checked_out_at=now, closed_by="checkout", updated_at=now)
        .returning(table.c.id)
    ).first()
    db.session.refresh(attendance)
    if claimed is None:  # a parallel check-out closed it a moment ago
        return ScanResult(attendance, True)
    _settle(attendance, now)
    return ScanResult(attendance, False)


def _settle(attendance: Attendance, now: datetime) -> None:
    """Count the minutes and points of a closed attendance; approve it if nobody must."""
    activity = attendance.activity
    assert attendance.checked_out_at is not None  # only a closed attendance is settled
    attendance.minutes = counted_minutes(
        activity, attendance.checked_in_at, attendance.checked_out_at
    )
    attendance.points = points_for(activity, attendance.minutes)
    attendance.status = "pending"
    db.session.flush()
    if activity.needs_approval or attendance.unverified:
        return
    if attendance.points > 0 and attendance.minutes < minimum_minutes(activity):
        # Scanning in and straight out does not earn a fixed activity's points.
        attendance.note = _("Shorter than the activity's minimum time; waiting for staff.")
        db.session.flush()
        return
    try:
        _approve(attendance, actor=None, now=now, may_exceed_budget=False, source="activity")
    except BudgetExceeded:
        # Left for staff: an administrator can issue past the budget.
        attendance.status = "pending"
        attendance.note = _("The community's monthly budget is used up; waiting for staff.")
        db.session.flush()


def _approve(
    attendance: Attendance,
    *,
    actor: Person | None,
    now: datetime,
    may_exceed_budget: bool,
    source: str,
) -> None:
    activity = attendance.activity
    person = attendance.person
    if attendance.points > 0:
        with force_locale(person.locale):
            reason = _("Activity: %(title)s", title=activity.title)
        txn = awards.award(
            person,
            attendance.points,
            reason=reason,
            idempotency_key=f"attendance-{attendance.id}-r{attendance.revision}",
            now=now,
            actor=actor,
            source=source,
            kind="attendance",
            may_exceed_budget=may_exceed_budget,
            community=activity.community,
        )
        attendance.transaction_id = txn.id
    attendance.status = "approved"
    attendance.note = ""
    attendance.decided_by_id = actor.id if actor else None
    attendance.decided_at = now
    attendance.updated_at = now
    _add_verified_minutes(person, attendance.minutes or 0, now)
    db.session.flush()


def _add_verified_minutes(person: Person, minutes: int, now: datetime | None = None) -> None:
    """Count verified time; reaching a new star level earns a congratulation."""
    from app.people import people

    if not minutes:
        return
    before = people.star_level(person.verified_minutes).stars
    db.session.execute(
        sa.update(Person)
        .where(Person.id == person.id)
        .values(verified_minutes=Person.verified_minutes + minutes)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(person, ["verified_minutes"])
    after = people.star_level(person.verified_minutes).stars
    if after > before and now is not None:
        with force_locale(person.locale):
            body = _(
                "Congratulations! With %(hours)s verified hours you are now a %(stars)s-star "
                "volunteer.",
                hours=person.verified_minutes // 60,
                stars=after,
            )
        outbox.queue(person=person, kind="star_level", body=body, now=now)


def _undo_approval(attendance: Attendance, *, actor: Person, now: datetime, reason: str) -> None:
    """Take back an approval: reverse its points and its hours (for a correction)."""
    if attendance.transaction_id is not None:
        ledger.reverse(
            ledger.get_transaction(attendance.transaction_id),
            idempotency_key=f"attendance-{attendance.id}-r{attendance.revision}-undo",
            now=now,
            memo=reason,
            actor=actor,
        )
        attendance.transaction_id = None
    _add_verified_minutes(attendance.person, -(attendance.minutes or 0))
    attendance.revision += 1
    attendance.status = "pending"
    db.session.flush()


def _require_staff_reason(reason: str | None) -> str:
    return one_line(
        reason,
        field="reason",
        max_length=MAX_REASON,
        required=_l("A reason is required."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )


def _large(attendance: Attendance) -> bool:
    """Over the thresholds above which one worker alone may not approve hours."""
    from app.points import deeds

    return (attendance.points or 0) > deeds.approval_threshold() or (
        attendance.minutes or 0
    ) > current_app.config["ATTENDANCE_APPROVAL_MINUTES"]


def _made_by(attendance: Attendance, actor: Person) -> bool:
    """Whether `actor` had a hand in these figures: created the activity, recorded the
    check-in at the desk, or corrected the times."""
    return actor.id in {
        attendance.activity.created_by_id,
        attendance.recorded_by_id,
        attendance.corrected_by_id,
    }


def needs_second_worker(attendance: Attendance, actor: Person) -> bool:
    return _large(attendance) and _made_by(attendance, actor)


def approve(attendance: Attendance, *, actor: Person, now: datetime) -> Attendance:
    """Staff approve a closed attendance: hours count, points are posted. Above the
    thresholds, whoever made the figures cannot also approve them."""
    if attendance.status == "approved":
        return attendance
    if attendance.status != "pending":
        raise BusinessRuleError(
            _l("Only a closed attendance waiting for approval can be approved."),
            field="attendance",
        )
    if needs_second_worker(attendance, actor):
        raise NotPermitted(
            _l(
                "%(minutes)s minutes and %(points)s points: another worker must approve what "
                "you entered or corrected."
            ),
            field="attendance",
            minutes=attendance.minutes,
            points=attendance.points,
        )
    before = {"status": attendance.status}
    attendance.unverified = False
    _approve(
        attendance,
        actor=actor,
        now=now,
        may_exceed_budget=actor.has_role("admin"),
        source="panel",
    )
    audit.record(
        "attendance.approve",
        attendance,
        actor=actor,
        source="panel",
        now=now,
        before=before,
        after={"status": "approved", "minutes": attendance.minutes, "points": attendance.points},
    )
    return attendance


def reject(attendance: Attendance, *, actor: Person, now: datetime, reason: str) -> Attendance:
    """Staff refuse an attendance (no hours, no points); an approved one is taken back."""
    reason = _require_staff_reason(reason)
    if attendance.status == "rejected":
        return attendance
    before = {"status": attendance.status, "points": attendance.points}
    if attendance.status == "approved":
        _undo_approval(attendance, actor=actor, now=now, reason=reason)
    attendance.status = "rejected"
    attendance.note = reason
    attendance.decided_by_id = actor.id
    attendance.decided_at = now
    attendance.updated_at = now
    db.session.flush()
    audit.record(
        "attendance.reject",
        attendance,
        actor=actor,
        source="panel",
        now=now,
        before=before,
        after={"status": "rejected"},
        reason=reason,
    )
    return attendance


def correct_times(
    attendance: Attendance,
    *,
    checked_in_at: datetime,
    checked_out_at: datetime,
    actor: Person,
    now: datetime,
    reason: str,
) -> Attendance:
    """Staff set the real times (also how a missing check-out is closed by hand).

    Times confirmed by staff are verified. An approved attendance is approved again with
    the new figures: its old points are reversed and the new ones posted.
    """
    reason = _require_staff_reason(reason)
    if checked_out_at <= checked_in_at:
        raise InvalidInput(_l("The check-out must be after the check-in."), field="checked_out_at")
    if checked_out_at > now:
        raise InvalidInput(_l("The check-out cannot be in the future."), field="checked_out_at")
    if attendance.status == "rejected":
        raise BusinessRuleError(_l("This attendance was rejected."), field="attendance")
    before = {
        "checked_in_at": attendance.checked_in_at.isoformat(),
        "checked_out_at": (
            attendance.checked_out_at.isoformat() if attendance.checked_out_at else None
        ),
        "minutes": attendance.minutes,
        "points": attendance.points,
        "status": attendance.status,
    }
    was_approved = attendance.status == "approved"
    if was_approved:
        _undo_approval(attendance, actor=actor, now=now, reason=reason)
    attendance.checked_in_at = checked_in_at
    attendance.checked_out_at = checked_out_at
    attendance.corrected_by_id = actor.id
    attendance.closed_by = "staff"
    attendance.unverified = False
    attendance.minutes = counted_minutes(attendance.activity, checked_in_at, checked_out_at)
    attendance.points = points_for(attendance.activity, attendance.minutes)
    attendance.status = "pending"
    attendance.updated_at = now
    db.session.flush()
    if was_approved and needs_second_worker(attendance, actor):
        # Large figures from one worker wait for a second one.
        attendance.note = _("Corrected by %(name)s; waiting for another worker.", name=actor.name)
        _ask_for_second_worker(attendance, actor, now)
    elif was_approved:
        _approve(
            attendance,
            actor=actor,
            now=now,
            may_exceed_budget=actor.has_role("admin"),
            source="panel",
        )
    audit.record(
        "attendance.correct",
        attendance,
        actor=actor,
        source="panel",
        now=now,
        before=before,
        after={
            "checked_in_at": checked_in_at.isoformat(),
            "checked_out_at": checked_out_at.isoformat(),
            "minutes": attendance.minutes,
            "points": attendance.points,
            "status": attendance.status,
        },
        reason=reason,
    )
    return attendance


def _ask_for_second_worker(attendance: Attendance, actor: Person, now: datetime) -> None:
    for colleague in people.staff_of(attendance.activity.community_id, besides=actor.id):
        with force_locale(colleague.locale):
            body = _(
                "Approval needed: %(maker)s corrected %(name)s's attendance at %(title)s to "
                "%(minutes)s minutes. Open the approvals page of the Linli panel.",
                maker=actor.name,
                name=attendance.person.name,
                title=attendance.activity.title,
                minutes=attendance.minutes,
            )
        outbox.queue(person=colleague, kind="approval_needed", body=body, now=now)


def close_overdue(now: datetime, limit: int = 1000) -> int:
    """Close attendances nobody checked out of once check-out has closed.

    The time counted runs to the scheduled end and is marked unverified, so it waits for
    staff approval. Returns how many were closed.
    """
    rows = db.session.scalars(
        sa.select(Attendance)
        .join(Activity, Attendance.activity_id == Activity.id)
        .where(Attendance.status == "checked_in", Activity.ends_at < now - _grace())
        .order_by(Attendance.id)
        .limit(limit)
    ).all()
    for attendance in rows:
        activity = attendance.activity
        attendance.checked_out_at = max(activity.ends_at, attendance.checked_in_at)
        attendance.closed_by = "auto"
        attendance.unverified = True
        attendance.updated_at = now
        _settle(attendance, now)
    return len(rows)


def attendances(activity: Activity) -> list[Attendance]:
    return list(
        db.session.scalars(
            sa.select(Attendance)
            .where(Attendance.activity_id == activity.id)
            .order_by(Attendance.checked_in_at, Attendance.id)
        )
    )


def pending_for(community_ids: set[int] | None, limit: int = 500) -> list[Attendance]:
    """Closed attendances waiting for staff, oldest first, in these communities."""
    query = (
        sa.select(Attendance)
        .join(Activity, Attendance.activity_id == Activity.id)
        .where(Attendance.status == "pending")
        .order_by(Attendance.checked_in_at)
        .limit(limit)
    )
    if community_ids is not None:
        query = query.where(Activity.community_id.in_(community_ids))
    return list(db.session.scalars(query))


def get_attendance(activity: Activity, attendance_id: int) -> Attendance:
    attendance = db.session.get(Attendance, attendance_id)
    if attendance is None or attendance.activity_id != activity.id:
        raise NotFound(_l("There is no such attendance."), field="attendance")
    return attendance


@dataclass
class ScreenState:
    checked_in: int
    latest: list[tuple[str, datetime]]


def screen_state(activity: Activity) -> ScreenState:
    """The live figures on the projector: how many are in, the last ten (masked) names."""
    from app.core.text import mask_name

    count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Attendance)
        .where(Attendance.activity_id == activity.id, Attendance.status != "rejected")
    )
    latest = db.session.execute(
        sa.select(Person.name, Attendance.checked_in_at)
        .join(Person, Attendance.person_id == Person.id)
        .where(Attendance.activity_id == activity.id, Attendance.status != "rejected")
        .order_by(Attendance.checked_in_at.desc(), Attendance.id.desc())
        .limit(10)
    ).all()
    return ScreenState(count or 0, [(mask_name(name), at) for name, at in latest])


def minutes_by_month(person: Person) -> list[tuple[str, int]]:
    """Verified minutes per month (in the person's community's zone), newest month first."""
    rows = db.session.execute(
        sa.select(Attendance.checked_in_at, Attendance.minutes).where(
            Attendance.person_id == person.id, Attendance.status == "approved"
        )
    ).all()
    totals: dict[str, int] = {}
    for at, minutes in rows:
        month = clock.local(at, person.community).strftime("%Y-%m")
        totals[month] = totals.get(month, 0) + (minutes or 0)
    return sorted(totals.items(), reverse=True)


def approved_for(person: Person, limit: int = 500) -> list[Attendance]:
    return list(
        db.session.scalars(
            sa.select(Attendance)
            .where(Attendance.person_id == person.id, Attendance.status == "approved")
            .order_by(Attendance.checked_in_at.desc())
            .limit(limit)
        )
    )
