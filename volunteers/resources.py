"""The resources list on the phone (资源清单): service posts to take up (岗位认领) and what
partner units and neighbours offer; a working party member's report (在职党员报到) and
record."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.models.base import db_id
from app.points import resources
from volunteers import bp
from volunteers.forms import ButtonForm, PartyReportForm


def _resident() -> None:
    if current_user.community_id is None:
        abort(403)


@bp.route("/resources")
@login_required
def resource_list():
    _resident()
    scope = {current_user.community_id}
    held = {claim.resource_id: claim for claim in resources.holding(current_user)}
    return render_template(
        "volunteers/resources.html",
        posts=resources.listed(scope, kind="post", active_only=True),
        offers=resources.listed(scope, kind="offer", active_only=True),
        held=held,
        units=resources.UNIT_NAMES,
        form=ButtonForm(),
    )


@bp.route("/resources/<int:resource_id>/claim", methods=["POST"])
@login_required
def resource_claim(resource_id: int):
    _resident()
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        post = resources.get(db_id(resource_id), {current_user.community_id})
        resources.claim(post, current_user, now=clock.now())
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(_("You hold the post %(title)s now. Thank you!", title=post.title), "info")
    return redirect(url_for(".resource_list"))


@bp.route("/resources/<int:resource_id>/release", methods=["POST"])
@login_required
def resource_release(resource_id: int):
    _resident()
    if not ButtonForm().validate_on_submit():
        abort(400)
    held = next((c for c in resources.holding(current_user) if c.resource_id == resource_id), None)
    if held is None:
        abort(404)
    resources.release(held, current_user, now=clock.now())
    flash(_("You gave up the post."), "info")
    return redirect(url_for(".resource_list"))


@bp.route("/party", methods=["GET", "POST"])
@login_required
def party_report():
    """在职党员报到: the report form (again: to change one's details), and one's record."""
    _resident()
    record = resources.record_of(current_user, clock.now())
    form = PartyReportForm(obj=record.report)
    if form.validate_on_submit():
        try:
            resources.report(
                current_user,
                employer=form.employer.data,
                branch=form.branch.data or "",
                now=clock.now(),
            )
        except LinliError as exc:
            rollback_unit_of_work()
            form.employer.errors.append(str(exc))
        else:
            flash(
                _("Reported to %(community)s. Thank you!", community=current_user.community.name),
                "info",
            )
            return redirect(url_for(".party_report"))
    return render_template("volunteers/party.html", form=form, record=record)
