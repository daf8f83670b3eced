"""Attendance: check-in and check-out, hours, points, approval.

The life of an attendance: checked_in (scan at the start) → closed by a check-out scan,
by staff, or automatically after the end (then its time is "unverified") → approved
(points posted through the ledger, hours counted towards the star level) or rejected.
An activity that does not ask for approval approves a checked-out attendance at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.activities.activities import signup_of
from app.channels import outbox
from app.core import audit, clock, metrics
from app.core.database import insert_unless_taken
from app.core.errors import (
    BudgetExceeded,
    BusinessRuleError,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from app.core.extensions import db
from app.core.text import one_line
from app.models import Activity, Attendance, Person
from app.models.base import table_of
from app.people import people
from app.points import awards, ledger

MAX_REASON = 200


# --- attendance ---------------------------------------------------------------------------


def early_window() -> timedelta:
    return timedelta(minutes=current_app.config["CHECKIN_EARLY_MINUTES"])


def grace_window() -> timedelta:
    return timedelta(minutes=current_app.config["ATTENDANCE_GRACE_MINUTES"])


def checkin_opens_at(activity: Activity) -> datetime:
    return activity.starts_at - early_window()


def checkout_closes_at(activity: Activity) -> datetime:
    return activity.ends_at + grace_window()


def attendance_of(activity: Activity, person: Person) -> Attendance | None:
    return db.session.scalar(
        sa.select(Attendance).filter_by(activity_id=activity.id, person_id=person.id)
    )


def counted_minutes(activity: Activity, checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Whole minutes on site, capped at the scheduled length plus the grace."""
    worked = int((checked_out_at - checked_in_at).total_seconds() // 60)
    cap = activity.scheduled_minutes + int(grace_window().total_seconds() // 60)
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


def _may_check_in(activity: Activity, person: Person, *, now: datetime, method: str) -> None:
    """Refuses a check-in the activity's rules do not allow now."""
    if activity.is_cancelled:
        raise BusinessRuleError(_l("This activity was cancelled."), field="activity")
    if now < checkin_opens_at(activity):
        raise BusinessRuleError(
            _l("Check-in opens at %(time)s, %(minutes)s minutes before the start."),
            field="activity",
            time=_hhmm(checkin_opens_at(activity), activity),
            minutes=int(early_window().total_seconds() // 60),
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


def check_in(
    activity: Activity,
    person: Person,
    *,
    now: datetime,
    method: str = "qr",
    recorded_by: Person | None = None,
) -> ScanResult:
    """Record that `person` arrived. A second check-in returns the first one unchanged
    (even once check-in has closed).

    Staff checking someone in at the desk (method "staff") skip the sign-up rule. The happy
    path is one `INSERT … ON CONFLICT DO NOTHING RETURNING`: a taken (activity, person) is
    the earlier check-in, however close the two came (a double tap, a retried text).
    """
    try:
        _may_check_in(activity, person, now=now, method=method)
    except BusinessRuleError:
        existing = attendance_of(activity, person)
        if existing is not None:
            return ScanResult(existing, True)
        raise
    attendance = insert_unless_taken(
        Attendance,
        dict(
            activity_id=activity.id,
            person_id=person.id,
            status="checked_in",
            checked_in_at=now,
            method=method,
            recorded_by_id=recorded_by.id if recorded_by else None,
            created_at=now,
            updated_at=now,
        ),
    )
    if attendance is None:
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
    metrics.count_after_commit(metrics.CHECKINS, "in")
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
    metrics.count_after_commit(metrics.CHECKINS, "out")
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
    notify: bool = True,
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
            notify=notify,
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
    if not attendance.points:  # points are announced with the posting; hours alone here
        outbox.tell(
            attendance.person,
            "attendance",
            _l("Linli: your %(minutes)s minutes at %(title)s were confirmed."),
            now=now,
            minutes=attendance.minutes or 0,
            title=attendance.activity.title,
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
    taken_back = attendance.points if attendance.status == "approved" else 0
    if attendance.status == "approved":
        _undo_approval(attendance, actor=actor, now=now, reason=reason)
    attendance.status = "rejected"
    attendance.note = reason
    attendance.decided_by_id = actor.id
    attendance.decided_at = now
    attendance.updated_at = now
    db.session.flush()
    outbox.tell(
        attendance.person,
        "attendance",
        _l("Linli: your attendance at %(title)s was not confirmed. Reason: %(reason)s")
        if not taken_back
        else _l(
            "Linli: your attendance at %(title)s was not confirmed and its %(points)s points "
            "were taken back. Reason: %(reason)s"
        ),
        now=now,
        title=attendance.activity.title,
        reason=reason,
        points=taken_back,
    )
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
            notify=False,  # the correction's notice below gives the new figures
        )
    if was_approved:
        _tell_corrected(attendance, reason, now)
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


def _tell_corrected(attendance: Attendance, reason: str, now: datetime) -> None:
    """The resident hears the new figures of an attendance they had been credited for."""
    community = attendance.activity.community
    assert attendance.checked_out_at is not None  # correct_times has just set both
    values = dict(
        title=attendance.activity.title,
        start=f"{clock.local(attendance.checked_in_at, community):%m-%d %H:%M}",
        end=f"{clock.local(attendance.checked_out_at, community):%H:%M}",
        minutes=attendance.minutes or 0,
        points=attendance.points,
        reason=reason,
    )
    if attendance.status == "approved":
        message = _l(
            "Linli: staff corrected your attendance at %(title)s to %(start)s–%(end)s: "
            "%(minutes)s minutes, %(points)s points. Reason: %(reason)s"
        )
    else:
        message = _l(
            "Linli: staff corrected your attendance at %(title)s to %(start)s–%(end)s; its "
            "points wait for a second staff member. Reason: %(reason)s"
        )
    outbox.tell(attendance.person, "attendance", message, now=now, **values)


def _ask_for_second_worker(attendance: Attendance, actor: Person, now: datetime) -> None:
    for colleague in people.staff_of(attendance.activity.community_id, besides=actor.id):
        outbox.tell(
            colleague,
            "approval_needed",
            _l(
                "Approval needed: %(maker)s corrected %(name)s's attendance at %(title)s to "
                "%(minutes)s minutes. Open the approvals page of the Linli panel."
            ),
            now=now,
            maker=actor.name,
            name=attendance.person.name,
            title=attendance.activity.title,
            minutes=attendance.minutes,
        )


def close_overdue(now: datetime, limit: int = 1000) -> int:
    """Close attendances nobody checked out of once check-out has closed.

    The time counted runs to the scheduled end and is marked unverified, so it waits for
    staff approval. Returns how many were closed.
    """
    rows = db.session.scalars(
        sa.select(Attendance)
        .join(Activity, Attendance.activity_id == Activity.id)
        .where(Attendance.status == "checked_in", Activity.ends_at < now - grace_window())
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


def pending_query(community_ids: set[int] | None) -> sa.Select:
    """Closed attendances waiting for staff in these communities (None: all)."""
    query = (
        sa.select(Attendance)
        .join(Activity, Attendance.activity_id == Activity.id)
        .where(Attendance.status == "pending")
    )
    if community_ids is not None:
        query = query.where(Activity.community_id.in_(community_ids))
    return query


def pending_for(community_ids: set[int] | None, limit: int = 500) -> list[Attendance]:
    """Closed attendances waiting for staff, oldest first, in these communities."""
    query = pending_query(community_ids).order_by(Attendance.checked_in_at).limit(limit)
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
