"""Activities: list and create them, check a person in at the desk, read the screen's code."""

from __future__ import annotations

import math

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.activities import activities, attendance, scan_codes
from app.api import bp
from app.api.base import (
    caller,
    describe,
    dump,
    is_staff,
    keyset,
    load_body,
    load_query,
    staff_scope,
    volunteer,
)
from app.api.idempotency import idempotent
from app.api.people import find_person
from app.api.schemas import (
    ActivityIn,
    ActivityOut,
    ActivityPage,
    ActivityQuery,
    AttendanceIn,
    AttendanceOut,
    CheckinCodeOut,
    CheckinCodeQuery,
)
from app.core import clock
from app.core.errors import BusinessRuleError, NotFound
from app.core.extensions import db
from app.models import Activity, Team
from app.people import org
from app.web import scan_url


def _activity(activity: Activity) -> dict:
    """The fields of ActivityOut (dumped by the view, alone or in a page)."""
    return {
        "id": activity.id,
        "community_id": activity.community_id,
        "team_id": activity.team_id,
        "title": activity.title,
        "description": activity.description,
        "place": activity.place,
        "category": activity.category,
        "starts_at": activity.starts_at,
        "ends_at": activity.ends_at,
        "capacity": activity.capacity,
        "confirmed": activity.confirmed_count,
        "points_rule": activity.points_rule,
        "points": activity.points,
        "needs_approval": activity.needs_approval,
        "signup_required": activity.signup_required,
        "cancelled": activity.is_cancelled,
    }


def _staff_activity(activity_id: int) -> Activity:
    return activities.get_activity(activity_id, staff_scope())


@bp.get("/activities")
@describe(
    _l("Activities, newest first: staff see their communities, a volunteer their own"),
    who=_l("staff, volunteer"),
    query=ActivityQuery,
    answer=ActivityPage,
)
def activity_list():
    query = load_query(ActivityQuery)
    scope = staff_scope() if is_staff(caller()) else {volunteer().community_id}
    select = sa.select(Activity)
    if query.get("community_id") is not None:
        if scope is not None and query["community_id"] not in scope:
            raise NotFound(field="community_id")
        select = select.where(Activity.community_id == query["community_id"])
    elif scope is not None:
        select = select.where(Activity.community_id.in_(scope))
    rows, next_cursor = keyset(select, Activity.id, query)
    return dump(
        ActivityPage, {"items": [_activity(row[0]) for row in rows], "next_cursor": next_cursor}
    )


@bp.post("/activities")
@describe(
    _l("Create an activity in one of your communities"),
    who=_l("staff"),
    body=ActivityIn,
    answer=ActivityOut,
    status=201,
    idempotent=True,
)
@idempotent
def activity_create():
    scope = staff_scope()
    data = load_body(ActivityIn)
    if scope is not None and data["community_id"] not in scope:
        raise NotFound(field="community_id")
    community = org.community_by_id(data["community_id"])
    team = None
    if data["team_id"] is not None:
        team = db.session.get(Team, data["team_id"])
        if team is None or team.community_id != community.id:
            raise NotFound(field="team_id")
    fields = activities.ActivityFields(
        title=data["title"],
        starts_at=data["starts_at"],
        ends_at=data["ends_at"],
        description=data["description"],
        place=data["place"],
        capacity=data["capacity"],
        points_rule=data["points_rule"],
        points=data["points"],
        needs_approval=data["needs_approval"],
        signup_required=data["signup_required"],
        team=team,
        category=data["category"],
    )
    activity = activities.create_activity(
        community, fields, actor=caller(), now=clock.now(), source="api"
    )
    return dump(ActivityOut, _activity(activity)), 201


@bp.post("/activities/<int:activity_id>/attendances")
@describe(
    _l("Check a person in at the desk (the sign-up rule does not apply)"),
    who=_l("staff"),
    body=AttendanceIn,
    answer=AttendanceOut,
    status=201,
    other_statuses=(200,),
    idempotent=True,
)
@idempotent
def attendance_create(activity_id: int):
    activity = _staff_activity(activity_id)
    data = load_body(AttendanceIn)
    person = find_person(data, staff_scope())
    result = attendance.check_in(
        activity, person, now=clock.now(), method="staff", recorded_by=caller()
    )
    record = result.attendance
    return dump(
        AttendanceOut,
        {
            "id": record.id,
            "activity_id": activity.id,
            "person_id": person.id,
            "status": record.status,
            "method": record.method,
            "checked_in_at": record.checked_in_at,
            "checked_out_at": record.checked_out_at,
            "already": result.repeated,
        },
    ), (200 if result.repeated else 201)


@bp.get("/activities/<int:activity_id>/checkin-code")
@describe(
    _l("The code on the activity's screen now: 4 digits for text messages and the QR token"),
    who=_l("staff"),
    query=CheckinCodeQuery,
    answer=CheckinCodeOut,
)
def checkin_code(activity_id: int):
    activity = _staff_activity(activity_id)
    query = load_query(CheckinCodeQuery)
    now = clock.now()
    if activity.is_cancelled:
        raise BusinessRuleError(_l("This activity was cancelled."), field="activity")
    kind = query["kind"]
    # The current code and the one before are both taken, so this one counts until the end
    # of the next rotation.
    left = scan_codes.seconds_to_next_rotation(now) + scan_codes.ROTATION_SECONDS
    return dump(
        CheckinCodeOut,
        {
            "activity_id": activity.id,
            "kind": kind,
            "code": scan_codes.short_code(activity, kind, now),
            "token": scan_codes.scan_token(activity, kind, now),
            "url": scan_url(activity, kind, now),
            "valid_for_seconds": math.floor(left),
        },
    )
