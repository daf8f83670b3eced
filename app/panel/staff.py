"""Panel pages for staff accounts: the street administrator creates social workers and
administrators, sets their communities, switches accounts off and on and sends one-time
set-password links; every worker sees who else works in their communities."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.models import OrgUnit
from app.panel import bp
from app.panel.changes import after_change
from app.panel.forms import ButtonForm, ScopeForm, StaffForm
from app.people import accounts, org, people
from app.web import role_required, set_password_url


def _community_choices():
    return [SelectChoice(c.id, c.name) for c in org.communities()]


def _chosen(ids) -> list[OrgUnit]:
    known = {c.id: c for c in org.communities()}
    return [known[cid] for cid in ids or [] if cid in known]


@bp.route("/staff", methods=["GET", "POST"])
@role_required("staff", "admin")
def staff_list():
    is_admin = current_user.has_role("admin")
    form = StaffForm(prefix="new")
    form.communities.choices = _community_choices()
    if request.method == "POST":
        if not is_admin:
            abort(403)
        if form.validate_on_submit():
            try:
                person = accounts.create_staff(
                    name=form.name.data,
                    phone=form.phone.data,
                    communities=_chosen(form.communities.data),
                    admin=form.role.data == "admin",
                    actor=current_user,
                    now=clock.now(),
                    link_url=set_password_url,
                )
            except LinliError as exc:
                rollback_unit_of_work()
                target = {"phone": form.phone, "communities": form.communities}.get(
                    exc.field or "", form.name
                )
                target.errors.append(str(exc))
            else:
                flash(_("Account created. A set-password link went to their phone."), "info")
                return redirect(url_for(".staff_detail", person_id=person.id))
    text = request.args.get("q", "")[:100]
    return render_template(
        "panel/staff.html",
        page=accounts.staff_page(
            text,
            community_ids=people.visible_community_ids(current_user),
            page=request.args.get("page", type=int),
        ),
        q=text,
        form=form if is_admin else None,
        names={c.id: c.name for c in org.communities()},
    )


def _member(person_id: int):
    person = accounts.staff_member(person_id)
    scope = people.visible_community_ids(current_user)
    if scope is not None and not (
        person.has_role("admin") or {h.community_id for h in person.staff_communities} & scope
    ):
        abort(404)
    return person


@bp.route("/staff/<int:person_id>")
@role_required("staff", "admin")
def staff_detail(person_id: int):
    person = _member(person_id)
    scope_form = ScopeForm()
    scope_form.communities.choices = _community_choices()
    scope_form.communities.data = [h.community_id for h in person.staff_communities]
    return render_template(
        "panel/staff_member.html",
        person=person,
        is_admin=current_user.has_role("admin"),
        scope_form=scope_form,
        form=ButtonForm(),
        names={c.id: c.name for c in org.communities()},
    )


def _admin_change(person_id: int, change, done: str):
    if not current_user.has_role("admin"):
        abort(403)
    person = _member(person_id)
    return after_change(lambda: change(person), url_for(".staff_detail", person_id=person.id), done)


@bp.route("/staff/<int:person_id>/scope", methods=["POST"])
@role_required("admin")
def staff_scope(person_id: int):
    form = ScopeForm()
    form.communities.choices = _community_choices()
    form.validate()
    return _admin_change(
        person_id,
        lambda person: accounts.set_scope(
            person, _chosen(form.communities.data), actor=current_user, now=clock.now()
        ),
        _("Saved."),
    )


@bp.route("/staff/<int:person_id>/admin", methods=["POST"])
@role_required("admin")
def staff_make_admin(person_id: int):
    return _admin_change(
        person_id,
        lambda person: accounts.make_admin(person, actor=current_user, now=clock.now()),
        _("Saved."),
    )


@bp.route("/staff/<int:person_id>/active", methods=["POST"])
@role_required("admin")
def staff_active(person_id: int):
    active = request.form.get("active") == "1"
    return _admin_change(
        person_id,
        lambda person: accounts.set_active(
            person,
            active,
            actor=current_user,
            reason=request.form.get("reason", ""),
            now=clock.now(),
        ),
        _("Switched on.") if active else _("Switched off: every session of this account ended."),
    )


@bp.route("/staff/<int:person_id>/link", methods=["POST"])
@role_required("admin")
def staff_link(person_id: int):
    return _admin_change(
        person_id,
        lambda person: accounts.send_password_link(
            person, actor=current_user, now=clock.now(), link_url=set_password_url
        ),
        _("A new set-password link went to their phone."),
    )
