"""Panel pages for deductions (扣分): take points from a resident under a deduction rule,
with the reason and evidence; the community's recent deductions; undo one."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.forms import uploaded_photo
from app.models.base import db_id
from app.panel import bp
from app.panel.forms import ButtonForm, DeductionForm
from app.people import people
from app.points import deductions, deeds
from app.web import private_photo, role_required


def _scope():
    return people.visible_community_ids(current_user)


@bp.route("/deductions")
@role_required("staff", "admin")
def deduction_list():
    return render_template(
        "panel/deductions.html", found=deductions.recent(_scope()), form=ButtonForm()
    )


@bp.route("/deductions/new", methods=["GET", "POST"])
@role_required("staff", "admin")
def deduction_new():
    scope = _scope()
    person = people.get(request.values.get("person", type=db_id) or 0)
    if person.community_id is None or (scope is not None and person.community_id not in scope):
        abort(404)
    form = DeductionForm()
    rules = deeds.rules_for({person.community_id}, active_only=True, deducts=True)
    form.rule.choices = [SelectChoice(r.id, f"{r.title} −{r.points}") for r in rules]
    if request.method == "GET":
        form.key.data = uuid.uuid4().hex
    if form.validate_on_submit():
        try:
            photo = uploaded_photo(form.photo)
            deduction = deductions.deduct(
                deeds.get_rule(form.rule.data, scope),
                person,
                reason=form.reason.data,
                key=form.key.data,
                actor=current_user,
                community_ids=scope,
                now=clock.now(),
                photo=photo,
            )
        except LinliError as exc:
            rollback_unit_of_work()
            target = getattr(form, exc.field or "", None)
            (target if target is not None and exc.field != "key" else form.reason).errors.append(
                str(exc)
            )
        else:
            flash(
                _(
                    "Deducted %(taken)s points from %(name)s; %(owed)s owed.",
                    taken=deduction.taken,
                    name=person.name,
                    owed=deduction.owed,
                ),
                "info",
            )
            return redirect(url_for(".resident_detail", person_id=person.id))
    return render_template("panel/deduction_form.html", form=form, person=person, rules=rules)


@bp.route("/deductions/<int:deduction_id>/reverse", methods=["POST"])
@role_required("staff", "admin")
def deduction_reverse(deduction_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        found = deductions.get(db_id(deduction_id), _scope())
    except LinliError:
        abort(404)
    try:
        deductions.reverse(
            found, reason=request.form.get("reason", ""), actor=current_user, now=clock.now()
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(
            _(
                "Undone: %(points)s points are back with %(name)s.",
                points=found.taken,
                name=found.person.name,
            ),
            "info",
        )
    return redirect(url_for(".deduction_list"))


@bp.route("/deductions/<int:deduction_id>/photo")
@role_required("staff", "admin")
def deduction_photo(deduction_id: int):
    try:
        found = deductions.get(db_id(deduction_id), _scope())
    except LinliError:
        abort(404)
    return private_photo("deduction-photo", found.photo)
