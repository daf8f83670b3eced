"""Panel pages for the monthly statement (公示): generate, review, publish, export; objections."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.models.base import db_id
from app.panel import bp
from app.panel.forms import ButtonForm
from app.people import org, people
from app.points import deeds, statements
from app.web import csv_download, role_required


def _scope():
    return people.visible_community_ids(current_user)


def _statement(statement_id: int):
    statement = statements.get(statement_id)
    scope = _scope()
    if scope is not None and statement.community_id not in scope:
        abort(404)
    return statement


def _last_month() -> str:
    local = clock.local(clock.now(), None)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{month:02d}"


@bp.route("/statements", methods=["GET", "POST"])
@role_required("staff", "admin")
def statement_list():
    scope = _scope()
    communities = [c for c in org.communities() if scope is None or c.id in scope]
    if request.method == "POST":
        if not ButtonForm().validate_on_submit():
            abort(400)
        community_id = request.form.get("community", type=db_id)
        if community_id not in {c.id for c in communities}:
            abort(404)
        try:
            statement = statements.generate(
                org.community_by_id(community_id),
                request.form.get("month", "").strip(),
                actor=current_user,
                now=clock.now(),
            )
        except LinliError as exc:
            rollback_unit_of_work()
            flash(str(exc), "error")
            return redirect(url_for(".statement_list"))
        return redirect(url_for(".statement_detail", statement_id=statement.id))
    return render_template(
        "panel/statements.html",
        items=statements.for_communities(scope),
        communities=communities,
        default_month=_last_month(),
        form=ButtonForm(),
    )


@bp.route("/statements/<int:statement_id>")
@role_required("staff", "admin")
def statement_detail(statement_id: int):
    statement = _statement(statement_id)
    return render_template(
        "panel/statement.html",
        statement=statement,
        names=deeds.CATEGORY_NAMES,
        intact=statements.intact(statement) if statement.status == "published" else None,
        form=ButtonForm(),
    )


@bp.route("/statements/<int:statement_id>/publish", methods=["POST"])
@role_required("staff", "admin")
def statement_publish(statement_id: int):
    statement = _statement(statement_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    statements.publish(statement, actor=current_user, now=clock.now())
    flash(
        _(
            "Published: residents can see it and object until %(date)s.",
            date=clock.local(statement.display_until, statement.community).strftime("%Y-%m-%d"),
        ),
        "info",
    )
    return redirect(url_for(".statement_detail", statement_id=statement.id))


@bp.route("/statements/<int:statement_id>.csv")
@role_required("staff", "admin")
def statement_csv(statement_id: int):
    statement = _statement(statement_id)
    categories = sorted({key for line in statement.lines for key in line["earned"]})
    names = statement_category_names()
    return csv_download(
        f"statement-{statement.community_id}-{statement.month}.csv",
        [_("Name"), *[names.get(c, c) for c in categories], _("Earned"), _("Spent"), _("Hours")],
        (
            [
                line["name"],
                *[line["earned"].get(c, 0) for c in categories],
                line["earned_total"],
                line["spent"],
                f"{line['minutes'] / 60:.1f}",
            ]
            for line in statement.lines
        ),
    )


def statement_category_names() -> dict[str, str]:
    return {
        **{key: str(value) for key, value in deeds.CATEGORY_NAMES.items()},
        "award": _("Awards"),
        "adjustment": _("Corrections"),
        "need": _("Help for neighbours"),
        "deduction": _("Deductions"),
    }


@bp.route("/objections/<int:objection_id>/answer", methods=["POST"])
@role_required("staff", "admin")
def objection_answer(objection_id: int):
    from app.core.extensions import db
    from app.models import Objection

    objection = db.session.get(Objection, objection_id)
    if objection is None:
        abort(404)
    _statement(objection.statement_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    raw = request.form.get("points", "").strip()
    try:
        points = int(raw) if raw else 0
    except ValueError:
        flash(_("Points must be a whole number."), "error")
        return redirect(url_for(".approvals"))
    try:
        statements.answer(
            objection,
            text=request.form.get("answer", ""),
            points=points,
            actor=current_user,
            community_ids=_scope(),
            now=clock.now(),
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(_("Saved."), "info")
    return redirect(url_for(".approvals"))
