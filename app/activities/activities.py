"""Activities: the catalogue (create, change, find) and sign-up with a waiting list.

Check-in and check-out by rotating codes are in scan_codes.py; what an attendance becomes
(hours, points, approval) is in attendance.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.channels import outbox
from app.core import audit, clock, files
from app.core.errors import (
    BusinessRuleError,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from app.core.extensions import db
from app.core.text import one_line
from app.models import Activity, OrgUnit, Person, Signup, Team
from app.models.org import TeamMember

MAX_TITLE = 100
MAX_PLACE = 200
MAX_DESCRIPTION = 4000
MAX_POINTS = 10_000
MAX_CAPACITY = 100_000
MAX_LENGTH = timedelta(days=7)


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
    place = one_line(
        fields.place,
        field="place",
        max_length=MAX_PLACE,
        required=None,
        too_long=_l("The place is longer than %(max)s characters."),
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
    # With its community, in the same statement: its times are shown in the community's zone.
    activity = db.session.get(Activity, activity_id, options=[joinedload(Activity.community)])
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
            # The list shows who organises each (a team, else the community).
            .options(joinedload(Activity.team), joinedload(Activity.community))
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


def save_photo(activity: Activity, jpeg: bytes, *, now: datetime) -> str:
    """Keep a photo made by `offers.prepare_photo` as the activity's cover picture (the one
    it replaces goes)."""
    activity.photo = files.replace_photo(
        "activity-photo", activity.id, activity.photo, jpeg, now=now
    )
    db.session.flush()
    return activity.photo
