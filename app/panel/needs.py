"""Panel pages for needs (需求清单): the list staff triage, one need with its timeline and
what staff may do to it (assign, give to a team, close, merge, confirm, open again, pay),
and the kinds staff keep."""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError, NotFound
from app.models.base import db_id
from app.panel import bp
from app.panel.forms import ButtonForm, NeedForStaffForm, NeedKindForm
from app.people import org, people
from app.points import needs, resources
from app.web import chosen_community, community_choices, private_photo, role_required

STAFF_ACTIONS = (
    "assign",
    "team",
    "match",
    "unit",
    "whistle",
    "answered",
    "close",
    "merge",
    "confirm",
    "reopen",
    "pay",
)


def _scope():
    return people.visible_community_ids(current_user)


def _kind_choices(scope) -> list[SelectChoice]:
    return [SelectChoice(k.id, k.name) for k in needs.kinds_for(scope, active_only=True)]


@bp.route("/needs", methods=["GET", "POST"])
@role_required("staff", "admin")
def need_list():
    """Requests to triage: the active ones (or of one status), oldest first, overdue and
    disputed marked; and a form to post one for a resident who phoned or came in."""
    scope = _scope()
    status = request.args.get("status")
    if status not in needs.STATUS_NAMES:
        status = None
    form = NeedForStaffForm()
    form.kind.choices = _kind_choices(scope)
    if form.validate_on_submit():
        try:
            resident = people.get_by_phone(form.phone.data)
            need = needs.post(
                resident,
                form.text.data,
                kind=needs.get_kind(form.kind.data, scope),
                now=clock.now(),
                source="panel",
                posted_by=current_user,
            )
        except LinliError as exc:
            rollback_unit_of_work()
            target = {"phone": form.phone, "resident": form.phone, "kind": form.kind}
            target.get(exc.field or "", form.text).errors.append(str(exc))
        else:
            flash(_("Posted as #%(id)s for %(name)s.", id=need.id, name=resident.name), "info")
            return redirect(url_for(".need_detail", need_id=need.id))
    now = clock.now()
    return render_template(
        "panel/needs.html",
        page=needs.for_staff(scope, status=status, page=request.args.get("page", type=int)),
        status=status,
        statuses=needs.STATUS_NAMES,
        steps=needs.STEP_NAMES,
        form=form,
        now=now,
        is_overdue=needs.is_overdue,
        may_confirm=needs.may_staff_confirm,
    )


def _need(need_id: int):
    try:
        return needs.get_for_staff(db_id(need_id), _scope())
    except LinliError:
        abort(404)


@bp.route("/needs/<int:need_id>")
@role_required("staff", "admin")
def need_detail(need_id: int):
    need = _need(need_id)
    now = clock.now()
    return render_template(
        "panel/need.html",
        need=need,
        form=ButtonForm(),
        statuses=needs.STATUS_NAMES,
        steps=needs.STEP_NAMES,
        actions=needs.ACTION_NAMES,
        chain=needs.chain(need) if need.status == "open" else [],
        teams=org.teams_of([need.community_id]),
        departments=needs.departments_used(_scope()),
        units=resources.partner_units() if need.status == "open" else [],
        offers=resources.listed({need.community_id}, kind="offer", active_only=True)
        if need.status == "open"
        else [],
        overdue=needs.is_overdue(need, now),
        may_confirm=needs.may_staff_confirm(need, now),
        where=needs.where(need, current_user),
    )


@bp.route("/needs/<int:need_id>/photo/<int:position>")
@role_required("staff", "admin")
def need_photo(need_id: int, position: int):
    need = _need(need_id)
    found = next((p.file_name for p in need.photos if p.position == position), None)
    return private_photo("need-photo", found)


@bp.route("/needs/<int:need_id>/<action>", methods=["POST"])
@role_required("staff", "admin")
def need_act(need_id: int, action: str):
    if action not in STAFF_ACTIONS:
        abort(404)
    if not ButtonForm().validate_on_submit():
        abort(400)
    need = _need(need_id)
    now, me, form = clock.now(), current_user, request.form
    try:
        if action == "assign":
            person = people.get_by_phone(form.get("phone", ""))
            needs.assign(need, actor=me, person=person, now=now)
            message = _("Given to %(name)s, who is told.", name=person.name)
        elif action == "team":
            team = next(
                (
                    t
                    for t in org.teams_of([need.community_id])
                    if t.id == form.get("team", type=int)
                ),
                None,
            )
            if team is None:
                raise NotFound(_("There is no such team."), field="team")
            needs.assign(need, actor=me, team=team, now=now)
            message = _("Given to the team %(team)s; its members are told.", team=team.name)
        elif action == "match":
            offer = resources.get(form.get("resource", type=db_id) or 0, {need.community_id})
            resources.match(need, offer, actor=me, now=now)
            message = _("Matched to %(title)s; its provider is told.", title=offer.title)
        elif action == "unit":
            unit = next(
                (m for m in resources.partner_units() if m.id == form.get("merchant", type=int)),
                None,
            )
            if unit is None:
                raise NotFound(_("There is no such partner unit."), field="merchant")
            needs.give_to_unit(need, unit.id, actor=me, now=now)
            message = _("Given to %(unit)s; its operators are told.", unit=unit.name)
        elif action == "whistle":
            needs.whistle(need, form.get("department", ""), actor=me, now=now)
            message = _(
                "Passed to %(department)s; the resident is told.", department=need.department
            )
        elif action == "answered":
            needs.done(need, me, note=form.get("note", ""), now=now, source="panel")
            message = _("Recorded; the resident is asked to confirm.")
        elif action == "close":
            needs.close(need, actor=me, reason=form.get("reason", ""), now=now)
            message = _("Closed; the resident is told why.")
        elif action == "merge":
            into = needs.get_for_staff(form.get("into", type=db_id) or 0, _scope())
            needs.merge(need, into, actor=me, now=now)
            message = _("Merged into #%(id)s; the resident is told.", id=into.id)
        elif action == "confirm":
            needs.confirm(need, me, now=now, source="panel")
            message = _("Confirmed.")
        elif action == "reopen":
            needs.reopen(need, actor=me, now=now)
            message = _("Open again; the volunteer is told it is no longer theirs.")
        else:
            if not me.has_role("admin"):
                abort(403)
            needs.pay(need, actor=me, now=now, may_exceed_budget=True)
            message = _("Paid.") if need.transaction_id else need.unpaid_reason
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(message, "info")
    return redirect(url_for(".need_detail", need_id=need_id))


@bp.route("/needs/helpers")
@role_required("staff", "admin")
def need_helpers():
    """The month's best-rated helpers: what the honours (活力小哥, 星级老哥, 最美三长) are
    chosen from; each links to the resident's page, where an honour is given."""
    now = clock.now()
    month = request.args.get("month", "")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        month = needs.period_month(now, None)
    return render_template(
        "panel/need_helpers.html", month=month, helpers=needs.best_rated(_scope(), month)
    )


# --- kinds --------------------------------------------------------------------------------


def _kind_form(kind=None) -> NeedKindForm:
    form = NeedKindForm(obj=kind)
    form.community.choices = community_choices(_scope())
    ids = [choice.value for choice in form.community.choices if choice.value]
    form.team.choices = [SelectChoice(0, "—")] + [
        SelectChoice(t.id, f"{t.name} ({org.community_by_id(t.community_id).name})")
        for t in org.teams_of(ids)
    ]
    if kind is not None and request.method == "GET":
        form.community.data = kind.community_id or 0
        form.team.data = kind.team_id or 0
    return form


def _kind_fields(form: NeedKindForm) -> needs.KindFields:
    return needs.KindFields(
        name=form.name.data,
        keywords=form.keywords.data or "",
        points=form.points.data,
        step_hours=form.step_hours.data,
        team_id=form.team.data or None,
        monthly_limit=form.monthly_limit.data,
        active=form.active.data,
    )


@bp.route("/need-kinds")
@role_required("staff", "admin")
def need_kinds():
    return render_template("panel/need_kinds.html", kinds=needs.kinds_for(_scope()))


@bp.route("/need-kinds/new", methods=["GET", "POST"])
@bp.route("/need-kinds/<int:kind_id>", methods=["GET", "POST"])
@role_required("staff", "admin")
def need_kind_form(kind_id: int | None = None):
    scope = _scope()
    kind = None
    if kind_id is not None:
        try:
            kind = needs.get_kind(db_id(kind_id), scope)
        except LinliError:
            abort(404)
        if kind.community_id is None and scope is not None:
            abort(403)  # the street's kinds are the administrators'
    form = _kind_form(kind)
    if form.validate_on_submit():
        try:
            if kind is None:
                community = chosen_community(form.community.data, scope)
                needs.create_kind(
                    community, _kind_fields(form), actor=current_user, now=clock.now()
                )
            else:
                needs.update_kind(kind, _kind_fields(form), actor=current_user, now=clock.now())
        except LinliError as exc:
            rollback_unit_of_work()
            getattr(form, exc.field or "name", form.name).errors.append(str(exc))
        else:
            flash(_("Saved."), "info")
            return redirect(url_for(".need_kinds"))
    return render_template("panel/need_kind_form.html", form=form, kind=kind)
