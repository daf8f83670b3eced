"""Panel pages for residents: search, a resident's page, create / edit, CSV import and export."""

import re
import time

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.core import clock
from app.core.database import commit_chunk, rollback_unit_of_work
from app.core.errors import LinliError
from app.forms import field_for_error
from app.models.base import db_id
from app.panel import bp
from app.panel.forms import ButtonForm, ImportForm, ResidentForm
from app.people import org, people, residents_import
from app.people.residents_import import TAG_SEPARATORS
from app.points import honours, ledger, needs
from app.web import csv_download, role_required

PAGE = 50
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def _scope():
    return people.visible_community_ids(current_user)


def _communities():
    scope = _scope()
    return [c for c in org.communities() if scope is None or c.id in scope]


def _resident(person_id: int):
    person = people.get(person_id)
    scope = _scope()
    if person.community_id is None or (scope is not None and person.community_id not in scope):
        abort(404)
    return person


def _filters():
    scope = _scope()
    community = request.args.get("community", type=db_id)
    if community:
        if scope is not None and community not in scope:
            abort(404)
        scope = {community}
    node = None
    building = request.args.get("building", type=db_id)
    if building:
        node = org.get_node(building)
        if scope is not None and node.community_id not in scope:
            abort(404)
    return {"community_ids": scope, "text": request.args.get("q", ""), "node": node}


@bp.route("/residents")
@role_required("staff", "admin")
def resident_list():
    found = people.residents(
        **_filters(), after_id=request.args.get("after", type=db_id), limit=PAGE
    )
    communities = _communities()
    return render_template(
        "panel/residents.html",
        found=found,
        more=len(found) == PAGE,
        communities=communities,
        buildings=org.with_paths(org.buildings_of([c.id for c in communities])),
        args=request.args,
    )


@bp.route("/residents.csv")
@role_required("staff", "admin")
def resident_csv():
    def rows():
        after = None
        while True:  # page by id so a large export never loads everything at once
            page = people.residents(**_filters(), after_id=after, limit=1000)
            for person in page:
                nodes = org.ancestors(person.org_unit) if person.org_unit else []
                place = {node.kind: node.name for node in nodes}
                yield [
                    person.phone,
                    person.name,
                    place.get("community", ""),
                    place.get("grid", ""),
                    place.get("building", ""),
                    place.get("unit", ""),
                    place.get("household", ""),
                    "、".join(person.tag_names),
                ]
            if len(page) < 1000:
                return
            after = page[-1].id

    header = ["phone", "name", "community", "grid", "building", "unit", "room", "tags"]
    return csv_download("residents.csv", header, rows())


@bp.route("/residents/<int:person_id>")
@role_required("staff", "admin")
def resident_detail(person_id: int):
    person = _resident(person_id)
    wallet = ledger.find_wallet(person)
    return render_template(
        "panel/resident.html",
        profile=people.profile(person),
        summary=people.summary(person, clock.now()),
        lines=ledger.history(wallet, limit=50) if wallet else [],
        honours=honours.of(person),
        honour_titles=honours.titles(),
        ratings=needs.ratings_of(person),
        this_month=clock.local(clock.now(), None).strftime("%Y-%m"),
        form=ButtonForm(),
    )


@bp.route("/residents/<int:person_id>/honours", methods=["POST"])
@role_required("staff", "admin")
def resident_honour(person_id: int):
    person = _resident(person_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        honours.grant(
            person,
            request.form.get("title", ""),
            request.form.get("period", ""),
            reason=request.form.get("reason", ""),
            actor=current_user,
            community_ids=_scope(),
            now=clock.now(),
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(_("Saved."), "info")
    return redirect(url_for(".resident_detail", person_id=person.id))


def _fill_place(form: ResidentForm, person) -> None:
    if person.org_unit is None:
        return
    for node in org.ancestors(person.org_unit):
        field = {"grid": form.grid, "building": form.building, "unit": form.unit}.get(node.kind)
        if field is not None:
            field.data = node.name
        if node.kind == "household":
            form.room.data = node.name


def _resident_page(person=None):
    form = ResidentForm(obj=None if request.method == "POST" else person)
    form.community.choices = [SelectChoice(c.id, c.name) for c in _communities()]
    if person is not None:
        form.phone.render_kw = {**(form.phone.render_kw or {}), "readonly": True}
        if request.method == "GET":
            form.community.data = person.community_id
            form.tags.data = "、".join(person.tag_names)
            _fill_place(form, person)
        form.phone.data = person.phone
    if form.validate_on_submit():
        now = clock.now()
        try:
            community = org.community_by_id(form.community.data)
            place = org.place(
                community, form.grid.data, form.building.data, form.unit.data, form.room.data
            )
            tags = TAG_SEPARATORS.split(form.tags.data or "")
            if person is None:
                person = people.create_person(
                    name=form.name.data,
                    phone=form.phone.data,
                    community=community,
                    org_unit=place,
                    tags=tags,
                    now=now,
                    actor=current_user,
                    source="panel",
                )
            else:
                people.update_person(
                    person,
                    name=form.name.data,
                    community=community,
                    org_unit=place,
                    tags=tags,
                    now=now,
                    actor=current_user,
                    source="panel",
                )
        except LinliError as exc:
            rollback_unit_of_work()
            field_for_error(form, exc.field, form.name).errors.append(str(exc))
        else:
            flash(_("Saved."), "info")
            return redirect(url_for(".resident_detail", person_id=person.id))
    return render_template("panel/resident_form.html", form=form, person=person)


@bp.route("/residents/new", methods=["GET", "POST"])
@role_required("staff", "admin")
def resident_new():
    return _resident_page()


@bp.route("/residents/<int:person_id>/edit", methods=["GET", "POST"])
@role_required("staff", "admin")
def resident_edit(person_id: int):
    return _resident_page(_resident(person_id))


# --- CSV import: check, then confirm --------------------------------------------------------


# A confirmation writes chunks for this long, then hands over to a page that asks for the
# next stretch (by itself, or with a tap): no request comes near the worker's timeout.
IMPORT_SECONDS_PER_REQUEST = 10


@bp.route("/residents/import", methods=["GET", "POST"])
@role_required("staff", "admin")
def resident_import():
    """Upload a CSV: nothing is written yet; the plan shows what would change."""
    form = ImportForm()
    form.community.choices = [SelectChoice(c.id, c.name) for c in _communities()]
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read() if upload else b""
        if not data:
            form.file.errors.append(_("Choose a CSV file."))
        else:
            community = org.community_by_id(form.community.data)
            try:
                record, plan = residents_import.check(
                    data,
                    community,
                    may_move=current_user.has_role("admin"),
                    actor=current_user,
                    file_name=upload.filename or "",
                    now=clock.now(),
                )
            except LinliError as exc:
                rollback_unit_of_work()
                form.file.errors.append(str(exc))
            else:
                # Committed with the request: the file and its counts, for whichever
                # server the confirmation reaches.
                return render_template(
                    "panel/import_preview.html",
                    plan=plan,
                    community=community,
                    token=record.token,
                    form=ButtonForm(),
                )
    return render_template(
        "panel/import.html", form=form, under_way=residents_import.under_way(current_user)
    )


def _import(token: str):
    if not _TOKEN.match(token or ""):
        abort(404)
    try:
        record = residents_import.find(token, current_user)
    except LinliError:
        abort(404)
    scope = _scope()
    if scope is not None and record.community_id not in scope:
        abort(404)
    return record


@bp.route("/residents/import/confirm", methods=["POST"])
@role_required("staff", "admin")
def resident_import_confirm():
    if not ButtonForm().validate_on_submit():
        abort(400)
    record = _import(request.form.get("token", ""))
    if record.status == "done":
        flash(_("This file was already imported."), "error")
        return redirect(url_for(".resident_import"))
    deadline = time.monotonic() + IMPORT_SECONDS_PER_REQUEST
    try:
        record = residents_import.run(
            record,
            skip_bad=request.form.get("skip_bad") == "1",
            now=clock.now(),
            actor=current_user,
            source="panel",
            checkpoint=commit_chunk,
            keep_going=lambda: time.monotonic() < deadline,
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
        if record.rows_done:  # what was written stays; the rest waits on the progress page
            return redirect(url_for(".resident_import_progress", token=record.token))
        return redirect(url_for(".resident_import"))
    if record.status != "done":
        return redirect(url_for(".resident_import_progress", token=record.token))
    flash(
        _(
            "Imported into %(community)s: %(changed)s people created or changed, "
            "%(skipped)s bad rows skipped.",
            community=record.community.name,
            changed=record.changed,
            skipped=record.bad,
        ),
        "info",
    )
    return redirect(url_for(".resident_list", community=record.community_id))


@bp.route("/residents/import/<token>")
@role_required("staff", "admin")
def resident_import_progress(token: str):
    """An import under way: how far it got; the page sends the next stretch by itself."""
    record = _import(token)
    return render_template("panel/import_progress.html", record=record, form=ButtonForm())
