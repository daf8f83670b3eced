from datetime import UTC

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectChoice

from app.activities import activities, attendance, scan_codes
from app.channels import outbox
from app.core import clock, qr
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.forms import uploaded_photo
from app.models import Activity
from app.models.base import db_id, db_ids
from app.panel import bp, charts
from app.panel.forms import CATEGORY_CHOICES, ActivityForm, ButtonForm, ReasonForm, TimesForm
from app.people import org, people
from app.points import dashboard as dashboard_data
from app.points import deeds, needs, reports
from app.web import csv_download, role_required, scan_url


@bp.route("/")
@role_required("staff", "admin")
def index():
    visible = people.visible_community_ids(current_user)
    now = clock.now()
    rows = reports.community_overview(now, visible)
    return render_template("panel/index.html", rows=rows, to_do=reports.to_do(visible, now))


@bp.route("/outbox")
def dev_outbox():
    # Demo mode without a gateway sends nothing: the codes and notices it would send are
    # shown here to anyone, so a visitor can sign in with the code (demo logins are public
    # too). With a real gateway only staff may look; outside demo mode nobody.
    if not current_app.config["DEMO_MODE"]:
        abort(404)
    if current_app.config["SMS_GATEWAY_URL"] and not (
        current_user.is_authenticated
        and (current_user.has_role("staff") or current_user.has_role("admin"))
    ):
        abort(403)
    return render_template("panel/outbox.html", messages=outbox.recent())


# --- activities ---------------------------------------------------------------------------


def _visible(activity_id: int) -> Activity:
    return activities.get_activity(activity_id, people.visible_community_ids(current_user))


def _communities():
    visible = people.visible_community_ids(current_user)
    return [c for c in org.communities() if visible is None or c.id in visible]


def _to_utc(naive, community):
    return naive.replace(tzinfo=clock.zone_for(community)).astimezone(UTC)


def _to_local_input(moment, community):
    return clock.local(moment, community).replace(tzinfo=None)


def _fill_choices(form: ActivityForm) -> None:
    communities = _communities()
    form.community.choices = [SelectChoice(c.id, c.name) for c in communities]
    teams = org.teams_of([c.id for c in communities])
    form.category.choices = CATEGORY_CHOICES
    names = {c.id: c.name for c in communities}
    form.team.choices = [SelectChoice(0, "—")] + [
        SelectChoice(t.id, f"{names[t.community_id]} · {t.name}") for t in teams
    ]


def _fields(form: ActivityForm, community) -> activities.ActivityFields:
    team = org.get_team(form.team.data) if form.team.data else None
    return activities.ActivityFields(
        title=form.title.data,
        description=form.description.data or "",
        place=form.place.data or "",
        starts_at=_to_utc(form.starts_at.data, community),
        ends_at=_to_utc(form.ends_at.data, community),
        capacity=form.capacity.data,
        points_rule=form.points_rule.data,
        points=form.points.data,
        needs_approval=form.needs_approval.data,
        signup_required=form.signup_required.data,
        team=team,
        category=form.category.data,
    )


def _show_error(form, exc: LinliError) -> None:
    target = getattr(form, exc.field or "", None)
    if target is not None and hasattr(target, "errors") and isinstance(target.errors, list):
        target.errors.append(str(exc))
    else:
        flash(str(exc), "error")


@bp.route("/activities")
@role_required("staff", "admin")
def activity_list():
    visible = people.visible_community_ids(current_user)
    return render_template(
        "panel/activities.html",
        items=activities.for_communities(visible),
        now=clock.now(),
    )


@bp.route("/activities/new", methods=["GET", "POST"])
@role_required("staff", "admin")
def activity_new():
    form = ActivityForm()
    _fill_choices(form)
    if form.validate_on_submit():
        community = org.community_by_id(form.community.data)
        try:
            jpeg = uploaded_photo(form.photo)  # checked before anything is written
            activity = activities.create_activity(
                community,
                _fields(form, community),
                actor=current_user,
                now=clock.now(),
                source="panel",
            )
            if jpeg is not None:
                activities.save_photo(activity, jpeg, now=clock.now())
        except LinliError as exc:
            rollback_unit_of_work()
            _show_error(form, exc)
        else:
            flash(_("The activity is saved."), "info")
            return redirect(url_for(".activity_detail", activity_id=activity.id))
    return render_template("panel/activity_form.html", form=form, activity=None)


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
@role_required("staff", "admin")
def activity_edit(activity_id: int):
    activity = _visible(activity_id)
    form = ActivityForm(obj=None if request.method == "POST" else activity)
    _fill_choices(form)
    if request.method == "GET":
        form.community.data = activity.community_id
        form.team.data = activity.team_id or 0
        form.starts_at.data = _to_local_input(activity.starts_at, activity.community)
        form.ends_at.data = _to_local_input(activity.ends_at, activity.community)
    # An activity stays in its community: the field is shown but not changeable.
    form.community.choices = [SelectChoice(activity.community_id, activity.community.name)]
    form.community.data = activity.community_id
    if form.validate_on_submit():
        try:
            jpeg = uploaded_photo(form.photo)
            activities.update_activity(
                activity,
                _fields(form, activity.community),
                actor=current_user,
                now=clock.now(),
                source="panel",
            )
            if jpeg is not None:
                activities.save_photo(activity, jpeg, now=clock.now())
        except LinliError as exc:
            rollback_unit_of_work()
            _show_error(form, exc)
        else:
            flash(_("The activity is saved."), "info")
            return redirect(url_for(".activity_detail", activity_id=activity.id))
    return render_template("panel/activity_form.html", form=form, activity=activity)


@bp.route("/activities/<int:activity_id>")
@role_required("staff", "admin")
def activity_detail(activity_id: int):
    activity = _visible(activity_id)
    query = request.args.get("q", "")
    found = people.search(query, people.visible_community_ids(current_user)) if query else []
    rows = attendance.attendances(activity)
    return render_template(
        "panel/activity.html",
        activity=activity,
        rows=rows,
        waiting=sum(1 for row in rows if row.status == "pending"),
        query=query,
        found=found,
        attending={row.person_id for row in rows},
        form=ButtonForm(),
        reason_form=ReasonForm(),
        times_form=TimesForm(),
        to_local_input=lambda moment: _to_local_input(moment, activity.community),
    )


def _back(activity: Activity, anchor: str = ""):
    return redirect(url_for(".activity_detail", activity_id=activity.id) + anchor)


def _change_attendance(activity_id: int, attendance_id: int, change, done):
    """Apply a staff change to one attendance; a refusal is rolled back and shown."""
    activity = _visible(activity_id)
    record = attendance.get_attendance(activity, attendance_id)
    name = record.person.name
    try:
        change(activity, record)
    except LinliError as exc:
        rollback_unit_of_work()
        flash(_("%(name)s: %(error)s", name=name, error=exc), "error")
    else:
        flash(str(done) % {"name": name}, "info")
    return _back(activity, f"#a{attendance_id}")


@bp.route("/activities/<int:activity_id>/attendances/<int:attendance_id>/approve", methods=["POST"])
@role_required("staff", "admin")
def attendance_approve(activity_id: int, attendance_id: int):
    return _change_attendance(
        activity_id,
        attendance_id,
        lambda _activity, record: attendance.approve(record, actor=current_user, now=clock.now()),
        _l("Approved: %(name)s."),
    )


@bp.route("/activities/<int:activity_id>/attendances/<int:attendance_id>/reject", methods=["POST"])
@role_required("staff", "admin")
def attendance_reject(activity_id: int, attendance_id: int):
    reason = ReasonForm().reason.data or ""
    return _change_attendance(
        activity_id,
        attendance_id,
        lambda _activity, record: attendance.reject(
            record, actor=current_user, now=clock.now(), reason=reason
        ),
        _l("Rejected: %(name)s."),
    )


@bp.route("/activities/<int:activity_id>/attendances/<int:attendance_id>/times", methods=["POST"])
@role_required("staff", "admin")
def attendance_times(activity_id: int, attendance_id: int):
    form = TimesForm()
    if not form.validate():
        activity = _visible(activity_id)
        record = attendance.get_attendance(activity, attendance_id)
        flash(_("%(name)s: enter both times and a reason.", name=record.person.name), "error")
        return _back(activity, f"#a{attendance_id}")

    def correct(activity, record):
        attendance.correct_times(
            record,
            checked_in_at=_to_utc(form.checked_in_at.data, activity.community),
            checked_out_at=_to_utc(form.checked_out_at.data, activity.community),
            actor=current_user,
            now=clock.now(),
            reason=form.reason.data,
        )

    return _change_attendance(activity_id, attendance_id, correct, _l("Times corrected: %(name)s."))


@bp.route("/activities/<int:activity_id>/approve", methods=["POST"])
@role_required("staff", "admin")
def attendance_approve_many(activity_id: int):
    activity = _visible(activity_id)
    ids = set(db_ids(request.form.getlist("attendance")))
    approved, problems = 0, []
    now = clock.now()
    for record in attendance.attendances(activity):
        if record.id not in ids or record.status != "pending":
            continue
        try:
            attendance.approve(record, actor=current_user, now=now)
        except LinliError as exc:
            problems.append(f"{record.person.name}: {exc}")
        else:
            approved += 1
    flash(_("%(count)s attendances approved.", count=approved), "info")
    for problem in problems:
        flash(problem, "error")
    return _back(activity)


@bp.route("/activities/<int:activity_id>/checkin", methods=["POST"])
@role_required("staff", "admin")
def staff_check_in(activity_id: int):
    activity = _visible(activity_id)
    person = people.get(request.form.get("person", type=db_id) or 0)
    visible = people.visible_community_ids(current_user)
    if visible is not None and person.community_id not in visible:
        abort(404)
    try:
        result = attendance.check_in(
            activity, person, now=clock.now(), method="staff", recorded_by=current_user
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(_("%(name)s: %(error)s", name=person.name, error=exc), "error")
    else:
        when = clock.local(result.attendance.checked_in_at, activity.community).strftime("%H:%M")
        if result.repeated:
            flash(
                _("%(name)s was already checked in at %(time)s.", name=person.name, time=when),
                "info",
            )
        else:
            flash(_("%(name)s is checked in.", name=person.name), "info")
    return _back(activity)


@bp.route("/activities/<int:activity_id>/close-overdue", methods=["POST"])
@role_required("staff", "admin")
def close_overdue(activity_id: int):
    activity = _visible(activity_id)
    closed = attendance.close_overdue(clock.now())
    flash(_("%(count)s attendances without a check-out were closed.", count=closed), "info")
    return _back(activity)


@bp.route("/activities/<int:activity_id>/attendances.csv")
@role_required("staff", "admin")
def attendance_csv(activity_id: int):
    activity = _visible(activity_id)
    status_names = _status_names()

    def when(moment):
        return clock.local(moment, activity.community).strftime("%Y-%m-%d %H:%M") if moment else ""

    return csv_download(
        f"attendance-{activity.id}.csv",
        [
            _("Name"),
            _("Phone"),
            _("Checked in"),
            _("Checked out"),
            _("Minutes"),
            _("Points"),
            _("Status"),
            _("Unverified"),
            _("Note"),
        ],
        (
            [
                row.person.name,
                row.person.phone,
                when(row.checked_in_at),
                when(row.checked_out_at),
                row.minutes if row.minutes is not None else "",
                row.points,
                status_names[row.status],
                _("yes") if row.unverified else "",
                row.note,
            ]
            for row in attendance.attendances(activity)
        ),
    )


def _status_names() -> dict[str, str]:
    return {
        "checked_in": _("On site"),
        "pending": _("Waiting for approval"),
        "approved": _("Approved"),
        "rejected": _("Rejected"),
    }


@bp.app_context_processor
def panel_globals():
    return {"attendance_status_names": _status_names}


# --- the projector page -------------------------------------------------------------------


def _screen_codes(activity: Activity, now) -> dict[str, str]:
    """The QR codes to show now: check-in until the end; check-out from 30 min before it."""
    codes = {}
    if now <= activity.ends_at:
        codes["in"] = str(qr.svg(scan_url(activity, "in", now), label=_("Check-in code")))
    if now >= activity.ends_at - scan_codes.CHECKOUT_CODE_LEAD:
        codes["out"] = str(qr.svg(scan_url(activity, "out", now), label=_("Check-out code")))
    return codes


@bp.route("/activities/<int:activity_id>/screen")
@role_required("staff", "admin")
def activity_screen(activity_id: int):
    activity = _visible(activity_id)
    now = clock.now()
    codes = _screen_codes(activity, now)
    return render_template(
        "panel/screen.html",
        activity=activity,
        codes=codes,
        shorts={kind: scan_codes.short_code(activity, kind, now) for kind in codes},
        state=attendance.screen_state(activity),
    )


@bp.route("/activities/<int:activity_id>/screen.json")
@role_required("staff", "admin")
def activity_screen_state(activity_id: int):
    activity = _visible(activity_id)
    now = clock.now()
    state = attendance.screen_state(activity)
    codes = _screen_codes(activity, now)
    return jsonify(
        codes=codes,
        shorts={kind: scan_codes.short_code(activity, kind, now) for kind in codes},
        checked_in=state.checked_in,
        latest=[
            {"name": name, "time": clock.local(at, activity.community).strftime("%H:%M")}
            for name, at in state.latest
        ],
    )


# --- dashboard ----------------------------------------------------------------------------


@bp.route("/dashboard")
@role_required("staff", "admin")
def dashboard():
    visible = people.visible_community_ids(current_user)
    communities = [c for c in org.communities() if visible is None or c.id in visible]
    chosen = request.args.get("community", type=db_id)
    if chosen is not None and chosen not in {c.id for c in communities}:
        abort(404)
    scope = {chosen} if chosen else visible
    now = clock.now()
    weekly = dashboard_data.points_by_week(scope, now)
    active = dashboard_data.active_volunteers_by_month(scope, now)
    hours = dashboard_data.hours_by_category(scope, now)
    teams = dashboard_data.top_teams(scope, now)
    budgets = dashboard_data.budget_use(scope, now)
    asked = dashboard_data.needs_by_month(scope, now)
    names = deeds.CATEGORY_NAMES
    return render_template(
        "panel/dashboard.html",
        communities=communities,
        chosen=chosen,
        weekly=weekly,
        active=active,
        hours=hours,
        teams=teams,
        budgets=budgets,
        names=names,
        charts={
            "weekly": charts.bars(
                _("Points per week"),
                weekly.labels,
                {
                    _("Issued"): weekly.values["issued"],
                    _("Redeemed at shops"): weekly.values["redeemed"],
                },
            ),
            # This month is not over: its point stands apart, not as a line falling to zero.
            "active": charts.line(
                _("Active volunteers per month"),
                active.labels,
                {
                    _("Active volunteers"): active.values["active"][:-1] + [None],
                    _("This month so far"): [None] * (len(active.labels) - 1)
                    + active.values["active"][-1:],
                },
            ),
            "hours": charts.pie(
                _("Verified hours by kind of service (3 months)"),
                {str(names.get(k, k)): v for k, v in hours.items()},
            ),
            "teams": charts.horizontal(_("Top teams by hours (3 months)"), teams),
            "needs": charts.bars(
                _("Residents' requests per month"),
                asked.labels,
                {_("Raised"): asked.values["raised"], _("Solved"): asked.values["solved"]},
            ),
            "need_hours": charts.line(
                _("Median hours from request to solved"),
                asked.labels,
                {_("Median hours"): asked.values["median_hours"]},
            ),
        },
        need_lines=needs.month_lines(org.community_by_id(chosen), needs.period_month(now, None))
        if chosen
        else [],
    )
