"""Panel pages for points: deed rules, awarding deeds, adjustments and the approvals inbox."""

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.activities import attendance
from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.models.base import db_id, db_ids
from app.panel import bp
from app.panel.forms import AdjustmentForm, ButtonForm, RuleForm
from app.partners import offers
from app.people import org, people
from app.points import deed_reports, deeds, statements
from app.web import private_photo, role_required


def _scope():
    return people.visible_community_ids(current_user)


def _fields(form: RuleForm) -> deeds.RuleFields:
    return deeds.RuleFields(
        title=form.title.data,
        category=form.category.data,
        points=form.points.data,
        daily_limit=form.daily_limit.data,
        monthly_limit=form.monthly_limit.data,
        evidence_required=form.evidence_required.data,
        active=form.active.data,
        deducts=form.deducts.data,
        owe_beyond_balance=form.owe_beyond_balance.data,
    )


# --- rules --------------------------------------------------------------------------------


@bp.route("/rules")
@role_required("staff", "admin")
def rule_list():
    return render_template(
        "panel/rules.html", rules=deeds.rules_for(_scope()), names=deeds.CATEGORY_NAMES
    )


def _rule_page(rule=None):
    form = RuleForm(obj=None if request.method == "POST" else rule)
    scope = _scope()
    choices = [] if scope is not None else [SelectChoice(0, _("The whole street"))]
    choices += [
        SelectChoice(c.id, c.name) for c in org.communities() if scope is None or c.id in scope
    ]
    form.community.choices = choices
    if rule is not None:  # a rule stays where it was made
        form.community.choices = [c for c in choices if c.value == (rule.community_id or 0)]
        form.community.data = rule.community_id or 0
    if form.validate_on_submit():
        try:
            if rule is None:
                community = (
                    org.community_by_id(form.community.data) if form.community.data else None
                )
                rule = deeds.create_rule(
                    _fields(form), community=community, actor=current_user, now=clock.now()
                )
            else:
                deeds.update_rule(rule, _fields(form), actor=current_user, now=clock.now())
        except LinliError as exc:
            rollback_unit_of_work()
            target = getattr(form, exc.field or "", None) or form.title
            target.errors.append(str(exc))
        else:
            flash(_("Saved."), "info")
            return redirect(url_for(".rule_list"))
    return render_template("panel/rule_form.html", form=form, rule=rule)


@bp.route("/rules/new", methods=["GET", "POST"])
@role_required("staff", "admin")
def rule_new():
    return _rule_page()


@bp.route("/rules/<int:rule_id>/edit", methods=["GET", "POST"])
@role_required("staff", "admin")
def rule_edit(rule_id: int):
    rule = deeds.get_rule(rule_id, _scope())
    if rule.community_id is None and not current_user.has_role("admin"):
        abort(403)  # the street's rules are the administrator's
    return _rule_page(rule)


# --- awarding deeds -----------------------------------------------------------------------


def _chosen_people():
    """Who the form picked: ids from a search, a team, a building, or pasted phones."""
    how = request.values.get("how", "search")
    scope = _scope()
    if how == "team":
        team = org.get_team(request.values.get("team", type=db_id) or 0)
        if scope is not None and team.community_id not in scope:
            abort(404)
        return deeds.Chosen(deeds.people_of_team(team.id))
    if how == "building":
        node = org.get_node(request.values.get("building", type=db_id) or 0)
        if scope is not None and node.community_id not in scope:
            abort(404)
        return deeds.Chosen(deeds.people_under(node))
    if how == "phones":
        return deeds.people_from_phones(request.values.get("phones", ""), scope)
    ids = db_ids(request.values.getlist("person"))
    return deeds.Chosen(deeds.people_by_ids(ids, scope))


@bp.route("/awards", methods=["GET", "POST"])
@role_required("staff", "admin")
def award_deeds():
    """Step 1: pick a rule and people. POST shows the preview (nothing is posted yet)."""
    scope = _scope()
    rules = deeds.rules_for(scope, active_only=True, deducts=False)
    visible = [c.id for c in org.communities() if scope is None or c.id in scope]
    query = request.args.get("q", "")
    context = {
        "rules": rules,
        "names": deeds.CATEGORY_NAMES,
        "teams": org.teams_of(visible),
        "buildings": org.buildings_of(visible),
        "query": query,
        "found": people.search(query, scope) if query else [],
        "form": ButtonForm(),
    }
    if request.method == "POST":
        if not ButtonForm().validate_on_submit():
            abort(400)
        rule = deeds.get_rule(request.form.get("rule", type=db_id) or 0, scope)
        chosen = _chosen_people()
        rows = deeds.preview(rule, chosen.people, community_ids=scope, now=clock.now())
        return render_template(
            "panel/award_preview.html",
            rule=rule,
            rows=rows,
            problems=chosen.problems,
            note=request.form.get("note", ""),
            batch_key=uuid.uuid4().hex,
            form=ButtonForm(),
        )
    return render_template("panel/awards.html", **context)


@bp.route("/awards/confirm", methods=["POST"])
@role_required("staff", "admin")
def award_confirm():
    """Step 2: post. The batch key from the preview makes a repeat post nothing twice."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    scope = _scope()
    rule = deeds.get_rule(request.form.get("rule", type=db_id) or 0, scope)
    ids = db_ids(request.form.getlist("person"))
    chosen = deeds.people_by_ids(ids, scope)
    try:
        results = deeds.award_many(
            rule,
            chosen,
            batch_key=request.form.get("batch_key", ""),
            note=request.form.get("note", ""),
            actor=current_user,
            community_ids=scope,
            now=clock.now(),
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
        return redirect(url_for(".award_deeds"))
    return render_template("panel/award_done.html", rule=rule, results=results)


# --- adjustments and approvals ------------------------------------------------------------


@bp.route("/adjustments/new", methods=["GET", "POST"])
@role_required("staff", "admin")
def adjustment_new():
    scope = _scope()
    person = people.get(request.values.get("person", type=db_id) or 0)
    if scope is not None and person.community_id not in scope:
        abort(404)
    form = AdjustmentForm()
    now = clock.now()
    last_month = deeds.last_month_open(person.community_id, now) if person.community_id else None
    if last_month:
        form.for_last_month.label.text = _(
            "It makes up for %(month)s (补记): count it on that month's board and statement",
            month=last_month.removeprefix("M"),
        )
    if request.method == "GET":
        form.person.data = person.id
        form.key.data = uuid.uuid4().hex
    if form.validate_on_submit():
        try:
            adjustment = deeds.propose_adjustment(
                person,
                form.points.data,
                reason=form.reason.data,
                maker=current_user,
                community_ids=scope,
                idempotency_key=form.key.data,
                now=now,
                for_last_month=bool(last_month and form.for_last_month.data),
            )
        except LinliError as exc:
            rollback_unit_of_work()
            target = getattr(form, exc.field or "", None) or form.points
            target.errors.append(str(exc))
        else:
            if adjustment.status == "pending":
                flash(
                    _(
                        "More than %(n)s points: the correction waits for a second staff member.",
                        n=deeds.approval_threshold(),
                    ),
                    "info",
                )
            else:
                flash(_("The correction is posted."), "info")
            return redirect(url_for(".approvals"))
    return render_template(
        "panel/adjustment_form.html",
        form=form,
        person=person,
        last_month=last_month,
        threshold=deeds.approval_threshold(),
    )


@bp.route("/adjustments/<int:adjustment_id>/decide", methods=["POST"])
@role_required("staff", "admin")
def adjustment_decide(adjustment_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    adjustment = deeds.get_adjustment(adjustment_id)
    scope = _scope()
    if scope is not None and adjustment.person.community_id not in scope:
        abort(404)
    approve = request.form.get("decision") == "approve"
    try:
        deeds.decide_adjustment(
            adjustment,
            approve=approve,
            checker=current_user,
            community_ids=scope,
            note=request.form.get("note", ""),
            now=clock.now(),
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        said = dict(name=adjustment.person.name, points=f"{adjustment.points:+d}")
        if approve:
            flash(_("Approved: %(points)s points for %(name)s are posted.", **said), "info")
        else:
            flash(
                _(
                    "Rejected: the correction of %(points)s points for %(name)s is not posted.",
                    **said,
                ),
                "info",
            )
    return redirect(url_for(".approvals"))


@bp.route("/deed-reports/<int:report_id>", methods=["POST"])
@role_required("staff", "admin")
def deed_report_decide(report_id: int):
    """A resident's own report of a good deed: awarded under a rule, or declined."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    scope = _scope()
    try:
        found = deed_reports.get(report_id, scope)
    except LinliError:
        abort(404)
    try:
        if request.form.get("decision") == "approve":
            rule = deeds.get_rule(request.form.get("rule", type=db_id) or 0, scope)
            deed_reports.approve(
                found, rule, actor=current_user, community_ids=scope, now=clock.now()
            )
            flash(
                _(
                    "Awarded: %(points)s points for %(name)s.",
                    points=rule.points,
                    name=found.person.name,
                ),
                "info",
            )
        else:
            deed_reports.decline(
                found,
                reason=request.form.get("reason", ""),
                actor=current_user,
                community_ids=scope,
                now=clock.now(),
            )
            flash(_("Declined; %(name)s is told why.", name=found.person.name), "info")
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    return redirect(url_for(".approvals") + "#reports")


@bp.route("/deed-reports/<int:report_id>/photo")
@role_required("staff", "admin")
def deed_report_photo(report_id: int):
    """A resident's evidence photo: staff of their community only, never cached."""
    try:
        found = deed_reports.get(report_id, _scope())
    except LinliError:
        abort(404)
    return private_photo("deed-photo", found.photo)


@bp.route("/approvals")
@role_required("staff", "admin")
def approvals():
    """Everything waiting for staff: attendances, adjustments, offers."""
    scope = _scope()
    return render_template(
        "panel/approvals.html",
        attendances=attendance.pending_for(scope),
        adjustments=deeds.pending_adjustments(scope),
        offers=offers.pending_reviews(scope),
        objections=statements.open_objections(scope),
        reports=deed_reports.pending(scope),
        rules=deeds.rules_for(scope, active_only=True, deducts=False),
        form=ButtonForm(),
        names=deeds.CATEGORY_NAMES,
    )
