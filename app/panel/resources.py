"""Panel pages for the resources list (资源清单) and the working party members' report
(在职党员报到): list, add and change offers and posts; who reported and what each did."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.models.base import db_id
from app.panel import bp
from app.panel.forms import PartyReportStaffForm, ResourceForm
from app.people import people
from app.points import resources
from app.web import chosen_community, community_choices, csv_download, role_required


def _scope():
    return people.visible_community_ids(current_user)


@bp.route("/resources")
@role_required("staff", "admin")
def resource_index():
    now = clock.now()
    found = resources.listed(_scope())
    return render_template(
        "panel/resources.html",
        found=found,
        used={r.id: resources.used_this_month(r, now) for r in found if r.kind == "offer"},
        kinds=resources.KIND_NAMES,
        units=resources.UNIT_NAMES,
    )


def _form(resource=None) -> ResourceForm:
    form = ResourceForm(obj=None if request.method == "POST" else resource)
    form.community.choices = community_choices(_scope())
    form.provider_merchant.choices = [SelectChoice(0, "—")] + [
        SelectChoice(m.id, m.name) for m in resources.partner_units()
    ]
    if resource is not None and request.method == "GET":
        form.community.data = resource.community_id or 0
        form.provider_merchant.data = resource.provider_merchant_id or 0
        form.provider_phone.data = (
            resource.provider_person.phone if resource.provider_person else ""
        )
    return form


def _fields(form: ResourceForm) -> resources.ResourceFields:
    return resources.ResourceFields(
        kind=form.kind.data,
        title=form.title.data,
        description=form.description.data or "",
        capacity=form.capacity.data,
        capacity_unit=form.capacity_unit.data,
        provider_phone=form.provider_phone.data or "",
        provider_merchant_id=form.provider_merchant.data or None,
        active=form.active.data,
    )


@bp.route("/resources/new", methods=["GET", "POST"])
@bp.route("/resources/<int:resource_id>", methods=["GET", "POST"])
@role_required("staff", "admin")
def resource_form(resource_id: int | None = None):
    scope = _scope()
    resource = None
    if resource_id is not None:
        try:
            resource = resources.get(db_id(resource_id), scope)
        except LinliError:
            abort(404)
        if resource.community_id is None and scope is not None:
            abort(403)  # the street's are the administrators'
    form = _form(resource)
    if form.validate_on_submit():
        try:
            if resource is None:
                community = chosen_community(form.community.data, scope)
                resources.create(community, _fields(form), actor=current_user, now=clock.now())
            else:
                resources.update(resource, _fields(form), actor=current_user, now=clock.now())
        except LinliError as exc:
            rollback_unit_of_work()
            target = getattr(form, (exc.field or "title").replace("_id", ""), None) or form.title
            target.errors.append(str(exc))
        else:
            flash(_("Saved."), "info")
            return redirect(url_for(".resource_index"))
    return render_template("panel/resource_form.html", form=form, resource=resource)


@bp.route("/party-members", methods=["GET", "POST"])
@role_required("staff", "admin")
def party_members():
    """Who reported (在职党员报到) and what each did this year; a worker records a report."""
    scope = _scope()
    form = PartyReportStaffForm()
    if form.validate_on_submit():
        try:
            person = people.get_by_phone(form.phone.data)
            if person.community_id is None or (
                scope is not None and person.community_id not in scope
            ):
                raise LinliError(_("Nobody here has this id or phone number."))
            resources.report(
                person,
                employer=form.employer.data,
                branch=form.branch.data or "",
                now=clock.now(),
                recorded_by=current_user,
            )
        except LinliError as exc:
            rollback_unit_of_work()
            form.phone.errors.append(str(exc))
        else:
            flash(_("Recorded: %(name)s reported.", name=person.name), "info")
            return redirect(url_for(".party_members"))
    return render_template(
        "panel/party_members.html", records=resources.reported(scope, clock.now()), form=form
    )


@bp.route("/party-members.csv")
@role_required("staff", "admin")
def party_members_csv():
    records = resources.reported(_scope(), clock.now())
    header = [
        _("Name"),
        _("Community"),
        _("Employer"),
        _("Party branch"),
        _("Reported"),
        _("Posts held"),
        _("Requests solved"),
        _("Verified hours"),
        _("Points earned"),
    ]
    rows = (
        [
            r.person.name,
            r.person.community.name if r.person.community else "",
            r.report.employer if r.report else "",
            r.report.branch if r.report else "",
            r.report.reported_on if r.report else "",
            "、".join(r.posts),
            r.needs_solved,
            f"{r.minutes / 60:.1f}",
            r.points,
        ]
        for r in records
    )
    return csv_download("party-members.csv", header, rows)
