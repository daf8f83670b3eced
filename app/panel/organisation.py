"""Panel pages for the organisation tree (communities, grids … households, the 三长) and teams."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.core.extensions import db
from app.models import LeaderRole, OrgUnit
from app.models.base import db_id
from app.models.people import LEADER_ROLES
from app.panel import bp
from app.panel.changes import after_change
from app.panel.forms import ButtonForm
from app.people import org, people, teams
from app.web import role_required


def _scope():
    return people.visible_community_ids(current_user)


def _node(node_id: int):
    node = org.get_node(node_id)
    scope = _scope()
    if node.community_id is None or (scope is not None and node.community_id not in scope):
        abort(404)
    return node


@bp.route("/org")
@role_required("staff", "admin")
def org_index():
    text = request.args.get("q", "")[:100]
    page = org.community_page(text, community_ids=_scope(), page=request.args.get("page", type=int))
    return render_template(
        "panel/org.html",
        page=page,
        q=text,
        communities=[(c, org.residents_count(c)) for c in page.items],
        streets=org.streets(),
        form=ButtonForm(),
    )


@bp.route("/org/communities", methods=["POST"])
@role_required("admin")
def community_new():
    return after_change(
        lambda: org.add_community(
            request.form.get("name", ""),
            street_name=request.form.get("street", ""),
            actor=current_user,
            now=clock.now(),
        ),
        url_for(".org_index"),
    )


@bp.route("/org/<int:community_id>/settings", methods=["POST"])
@role_required("staff", "admin")
def community_settings(community_id: int):
    community = _node(community_id)
    if community.kind != "community":
        abort(404)
    raw_budget = request.form.get("monthly_budget", "").strip()

    def change():
        budget = None
        if raw_budget:
            try:
                budget = int(raw_budget)
            except ValueError:
                budget = -1  # refused by the service with its message
        org.update_community_settings(
            community,
            timezone=request.form.get("timezone"),
            monthly_budget=budget,
            name=request.form.get("name"),
            contact_number=request.form.get("contact_number"),
            actor=current_user,
            now=clock.now(),
        )

    return after_change(change, url_for(".org_index"))


def _same_community(node, kinds) -> list:
    return list(
        db.session.scalars(
            sa.select(OrgUnit)
            .where(OrgUnit.community_id == node.community_id, OrgUnit.kind.in_(kinds))
            .limit(2000)
        )
    )


@bp.route("/org/node/<int:node_id>")
@role_required("staff", "admin")
def org_node(node_id: int):
    node = _node(node_id)
    kids = org.children(node)
    targets, twins = [], []
    if node.kind in org.PARENT_KINDS:
        community = org.community_by_id(node.community_id)
        parents = [
            p
            for p in _same_community(node, org.PARENT_KINDS[node.kind])
            if p.id != node.parent_id and not p.path.startswith(node.path)
        ]
        if "community" in org.PARENT_KINDS[node.kind]:
            parents = [p for p in parents if p.kind != "community"]
            if node.parent_id != community.id:
                parents.append(community)
        targets = org.with_paths(parents)
        # Households are merged with one of the same building or unit (101 beside 101室).
        alike = (
            org.children(node.parent)
            if node.kind == "household" and node.parent
            else _same_community(node, [node.kind])
        )
        twins = org.with_paths(
            [t for t in alike if t.kind == node.kind and not t.path.startswith(node.path)]
        )
    adds = [kind for kind, parents in org.PARENT_KINDS.items() if node.kind in parents]
    return render_template(
        "panel/org_node.html",
        node=node,
        trail=org.ancestors(node),
        kids=[(kid, org.residents_count(kid)) for kid in kids],
        leaders=people.leaders_in(node),
        role_for_kind={kind: role for role, kind in LEADER_ROLES.items()},
        residents=(
            people.residents(None, node=node, limit=200)
            if node.kind in ("household", "unit")
            else []
        ),
        targets=targets,
        twins=twins,
        adds=adds,
        kind_names=_kind_names(),
        form=ButtonForm(),
    )


def _kind_names() -> dict[str, str]:
    return {
        "grid": _("Grid"),
        "building": _("Building"),
        "unit": _("Unit"),
        "household": _("Household"),
    }


@bp.route("/org/node/<int:node_id>/add", methods=["POST"])
@role_required("staff", "admin")
def node_add(node_id: int):
    node = _node(node_id)
    return after_change(
        lambda: org.add_node(
            node,
            request.form.get("kind", ""),
            request.form.get("name", ""),
            actor=current_user,
            now=clock.now(),
        ),
        url_for(".org_node", node_id=node.id),
    )


@bp.route("/org/node/<int:node_id>/rename", methods=["POST"])
@role_required("staff", "admin")
def node_rename(node_id: int):
    node = _node(node_id)
    return after_change(
        lambda: org.rename_node(
            node, request.form.get("name", ""), actor=current_user, now=clock.now()
        ),
        url_for(".org_node", node_id=node.id),
    )


@bp.route("/org/node/<int:node_id>/delete", methods=["POST"])
@role_required("staff", "admin")
def node_delete(node_id: int):
    node = _node(node_id)
    parent_id = node.parent_id
    done = after_change(
        lambda: org.delete_node(node, actor=current_user, now=clock.now()),
        url_for(".org_node", node_id=parent_id),
    )
    if org.find_node(node_id) is not None:  # refused: stay on the page
        return redirect(url_for(".org_node", node_id=node_id))
    return done


@bp.route("/org/node/<int:node_id>/merge", methods=["POST"])
@role_required("staff", "admin")
def node_merge(node_id: int):
    node = _node(node_id)
    target = _node(request.form.get("into", type=db_id) or 0)

    def change():
        for conflict in org.merge_nodes(node, target, actor=current_user, now=clock.now()):
            flash(conflict, "error")

    return after_change(change, url_for(".org_node", node_id=target.id))


@bp.route("/org/node/<int:node_id>/leaders", methods=["POST"])
@role_required("staff", "admin")
def leader_add(node_id: int):
    node = _node(node_id)
    role = {kind: role for role, kind in LEADER_ROLES.items()}.get(node.kind)
    if role is None:
        abort(404)

    def change():
        person = people.get_by_phone(request.form.get("phone", ""))
        scope = _scope()
        if scope is not None and person.community_id not in scope:
            abort(404)
        people.appoint_leader(person, node, role, actor=current_user, now=clock.now())

    return after_change(change, url_for(".org_node", node_id=node.id))


@bp.route("/org/leaders/<int:held_id>/remove", methods=["POST"])
@role_required("staff", "admin")
def leader_remove(held_id: int):
    held = db.session.get(LeaderRole, held_id)
    if held is None:
        abort(404)
    node = _node(held.org_unit_id)
    return after_change(
        lambda: people.remove_leader(held, actor=current_user, now=clock.now()),
        url_for(".org_node", node_id=node.id),
    )


@bp.route("/org/node/<int:node_id>/move", methods=["POST"])
@role_required("staff", "admin")
def node_move(node_id: int):
    node = _node(node_id)
    target = _node(request.form.get("to", type=db_id) or 0)
    return after_change(
        lambda: org.move_node(node, target, actor=current_user, now=clock.now()),
        url_for(".org_node", node_id=node.id),
    )


# --- teams --------------------------------------------------------------------------------


def _team(team_id: int):
    team = org.get_team(team_id)
    scope = _scope()
    if scope is not None and team.community_id not in scope:
        abort(404)
    return team


@bp.route("/teams", methods=["GET", "POST"])
@role_required("staff", "admin")
def team_list():
    scope = _scope()
    communities = [c for c in org.communities() if scope is None or c.id in scope]
    if request.method == "POST":
        if not ButtonForm().validate_on_submit():
            abort(400)
        community = _node(request.form.get("community", type=db_id) or 0)
        try:
            team = teams.create_team(
                community,
                name=request.form.get("name", ""),
                duties=request.form.get("duties", ""),
                actor=current_user,
                now=clock.now(),
            )
        except LinliError as exc:
            rollback_unit_of_work()
            flash(str(exc), "error")
            return redirect(url_for(".team_list"))
        flash(_("Saved."), "info")
        return redirect(url_for(".team_detail", team_id=team.id))
    return render_template(
        "panel/teams.html",
        teams=[(t, teams.members(t)) for t in org.teams_of([c.id for c in communities])],
        communities=communities,
        form=ButtonForm(),
    )


@bp.route("/teams/<int:team_id>")
@role_required("staff", "admin")
def team_detail(team_id: int):
    team = _team(team_id)
    return render_template(
        "panel/team.html", team=team, members=teams.members(team), form=ButtonForm()
    )


@bp.route("/teams/<int:team_id>/edit", methods=["POST"])
@role_required("staff", "admin")
def team_edit(team_id: int):
    team = _team(team_id)
    return after_change(
        lambda: teams.update_team(
            team,
            name=request.form.get("name", ""),
            duties=request.form.get("duties", ""),
            actor=current_user,
            now=clock.now(),
        ),
        url_for(".team_detail", team_id=team.id),
    )


@bp.route("/teams/<int:team_id>/members", methods=["POST"])
@role_required("staff", "admin")
def team_member(team_id: int):
    team = _team(team_id)
    action = request.form.get("action", "add")

    def change():
        if action == "add":
            person = people.get_by_phone(request.form.get("phone", ""))
        else:
            person = people.get(request.form.get("person", type=db_id) or 0)
        scope = _scope()
        if scope is not None and person.community_id not in scope:
            abort(404)
        now = clock.now()
        if action == "add":
            teams.add_member(team, person, actor=current_user, now=now)
        elif action == "remove":
            teams.remove_member(team, person, actor=current_user, now=now)
        elif action == "lead":
            teams.set_leader(team, person, actor=current_user, now=now)
        else:
            abort(400)

    return after_change(change, url_for(".team_detail", team_id=team.id))
