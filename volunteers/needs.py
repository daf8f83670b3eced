"""Needs on the phone (求助 / 接单): ask for help, find open requests near you, take one,
mark it done, confirm or dispute what was done for you, rate it; the public board."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app.channels import broadcasts
from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import BusinessRuleError, LinliError, NotPermitted
from app.forms import uploaded_photos
from app.models.base import db_id
from app.people import org, people
from app.points import needs
from app.web import private_photo
from volunteers import bp
from volunteers.forms import NeedActionForm, NeedForm

ACTIONS = ("take", "release", "done", "confirm", "dispute", "rate", "withdraw")


def _resident() -> None:
    if current_user.community_id is None:
        abort(403)


@bp.route("/needs")
@login_required
def need_list():
    if current_user.community_id is None:  # a partner unit's operator: the unit's requests
        given = needs.for_units(current_user)
        if not given and not current_user.has_role("merchant"):
            abort(403)
        return render_template(
            "volunteers/needs.html",
            open_needs=given,
            unit=True,
            whole=True,
            mine=[],
            taken=needs.taken_by(current_user, limit=20),
            ratings=needs.ratings_of(current_user),
            statuses=needs.STATUS_NAMES,
        )
    whole = request.args.get("all") == "1"
    return render_template(
        "volunteers/needs.html",
        open_needs=needs.open_for(current_user, whole_community=whole),
        whole=whole,
        mine=needs.mine(current_user, limit=20),
        taken=needs.taken_by(current_user, limit=20),
        ratings=needs.ratings_of(current_user),
        statuses=needs.STATUS_NAMES,
    )


def _places(person) -> list[SelectChoice]:
    """Where a need may be: the person's home first, then the buildings and grids of their
    community (a stairway light, a yard)."""
    assert person.community_id is not None
    community = org.community_by_id(person.community_id)
    home = [SelectChoice(0, _("My home"))] if person.org_unit_id else []
    nodes = org.buildings_of([community.id]) + [
        n for n in org.children(community) if n.kind == "grid"
    ]
    return (
        home
        + [SelectChoice(node.id, label) for node, label in org.with_paths(nodes)]
        + [SelectChoice(community.id, community.name)]
    )


@bp.route("/needs/new", methods=["GET", "POST"])
@login_required
def need_new():
    _resident()
    form = NeedForm()
    form.kind.choices = [
        SelectChoice(kind.id, kind.name)
        for kind in needs.kinds_for({current_user.community_id}, active_only=True)
    ]
    form.place.choices = _places(current_user)
    if not form.kind.choices:
        flash(_("Your community takes no requests here yet; please call the community."), "error")
        return redirect(url_for(".need_list"))
    if form.validate_on_submit():
        try:
            photos = uploaded_photos(form.photos.data, limit=needs.MAX_PHOTOS, field="photos")
            resident = current_user
            if (form.for_phone.data or "").strip():
                # Whom one may not post for is not told apart from whom there is not.
                found = people.find_by_phone(form.for_phone.data)
                if found is None or not needs.may_post_for(current_user, found):
                    raise NotPermitted(
                        _("You may not post a need for this resident."), field="resident"
                    )
                resident = found
            place = None
            if form.place.data and resident.id == current_user.id:
                place = org.get_node(form.place.data)
            need = needs.post(
                resident,
                form.text.data,
                kind=needs.get_kind(form.kind.data, {current_user.community_id}),
                now=clock.now(),
                source="web",
                posted_by=current_user,
                place=place,
                place_note=form.place_note.data or "",
                photos=photos,
            )
        except LinliError as exc:
            rollback_unit_of_work()
            target = getattr(form, exc.field or "", None)
            if exc.field == "resident" or exc.field == "phone":
                target = form.for_phone
            (
                target if target is not None and hasattr(target, "errors") else form.text
            ).errors.append(str(exc))
        else:
            flash(
                _(
                    "Sent: %(step)s looks at it first. You are told who takes it.",
                    step=needs.STEP_NAMES[need.step],
                ),
                "info",
            )
            return redirect(url_for(".need_detail", need_id=need.id))
    return render_template(
        "volunteers/need_form.html",
        form=form,
        may_post_for=bool(broadcasts.led_targets(current_user)) or current_user.has_role("staff"),
    )


def _need(need_id: int):
    try:
        return needs.get(db_id(need_id), current_user)
    except BusinessRuleError as exc:  # a neighbour's, taken meanwhile
        flash(str(exc), "error")
        abort(redirect(url_for(".need_list")))
    except LinliError:
        abort(404)


@bp.route("/needs/<int:need_id>")
@login_required
def need_detail(need_id: int):
    need = _need(need_id)
    now = clock.now()
    me = current_user
    return render_template(
        "volunteers/need.html",
        need=need,
        form=NeedActionForm(),
        statuses=needs.STATUS_NAMES,
        steps=needs.STEP_NAMES,
        actions=needs.ACTION_NAMES,
        is_resident=me.id == need.resident_id,
        is_taker=me.id == need.taker_id,
        take_refusal=needs.take_refusal(need, me) if need.status == "open" else None,
        overdue=needs.is_overdue(need, now),
        where=needs.where(need, me),
    )


@bp.route("/needs/<int:need_id>/photo/<int:position>")
@login_required
def need_photo(need_id: int, position: int):
    """A need's photo: for those who may see the need only, never cached."""
    need = _need(need_id)
    found = next((p.file_name for p in need.photos if p.position == position), None)
    return private_photo("need-photo", found)


@bp.route("/needs/<int:need_id>/<action>", methods=["POST"])
@login_required
def need_action(need_id: int, action: str):
    if action not in ACTIONS:
        abort(404)
    need = _need(need_id)
    form = NeedActionForm()
    if not form.validate_on_submit():
        abort(400)
    now, me, note = clock.now(), current_user, (form.note.data or "")
    try:
        if action == "take":
            needs.take(need, me, now=now, source="web")
            message = _("It is yours. When it is done, mark it done here.")
        elif action == "release":
            needs.release(need, me, now=now, source="web")
            message = _("Given back: it is open for someone else.")
        elif action == "done":
            needs.done(need, me, note=note, now=now, source="web")
            message = _("Thank you! The resident is asked to confirm; you are paid when they do.")
        elif action == "confirm":
            needs.confirm(need, me, now=now, source="web")
            message = _("Thank you for confirming. How was the help? Rate it below.")
        elif action == "dispute":
            needs.dispute(need, me, reason=note, now=now, source="web")
            message = _("We told the staff; they will look at it.")
        elif action == "rate":
            needs.rate(need, me, form.rating.data, comment=note, now=now)
            message = _("Thank you! Your rating was given to the volunteer.")
        else:
            needs.close(need, actor=me, reason=note, now=now)
            message = _("Your request is withdrawn.")
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(message, "info")
    return redirect(url_for(".need_detail", need_id=need_id))


@bp.route("/needs/board")
@bp.route("/needs/board/<int:community_id>")
def need_board(community_id: int | None = None):
    """The public board of a community's needs: per grid this month (raised, solved, still
    open, median hours, mean rating), and the open and solved ones with masked names, kinds
    and grids only (a resident's words may hold an address)."""
    if community_id is None:
        if not current_user.is_authenticated or current_user.community_id is None:
            abort(404)
        community_id = current_user.community_id
    try:
        community = org.community_by_id(db_id(community_id))
    except LinliError:
        abort(404)
    grid_id = request.args.get("grid", type=int)
    now = clock.now()
    return render_template(
        "volunteers/need_board.html",
        community=community,
        month=needs.period_month(now, community),
        lines=needs.month_lines(community, needs.period_month(now, community)),
        items=needs.public_list(community, grid_id=grid_id),
        grids=[n for n in org.children(community) if n.kind == "grid"],
        grid_id=grid_id,
        statuses=needs.STATUS_NAMES,
        now=now,
    )
