"""Services for the organisation tree: communities and the places people live."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core.errors import InvalidInput, NotFound, NotPermitted
from app.core.extensions import db
from app.core.text import one_line
from app.models import OrgUnit, Team
from app.models.org import ORG_KINDS
from app.points import ledger

MAX_NAME = 100


def _clean_name(name: str | None, field: str) -> str:
    return one_line(
        name,
        field=field,
        max_length=MAX_NAME,
        required=_l("A name is required."),
        too_long=_l("The name is longer than %(max)s characters."),
    )


def _find_child(parent: OrgUnit | None, kind: str, name: str) -> OrgUnit | None:
    under = OrgUnit.parent_id == parent.id if parent else OrgUnit.parent_id.is_(None)
    return db.session.scalar(
        sa.select(OrgUnit).where(under, OrgUnit.kind == kind, OrgUnit.name == name)
    )


def _child(parent: OrgUnit | None, kind: str, name: str) -> OrgUnit:
    """The node of this kind and name under `parent`, made when missing."""
    found = _find_child(parent, kind, name)
    if found is not None:
        return found
    node = OrgUnit(kind=kind, name=name, parent=parent)
    db.session.add(node)
    db.session.flush()
    node.community_id = (
        node.id if kind == "community" else (parent.community_id if parent else None)
    )
    node.path = f"{parent.path if parent else '/'}{node.id}/"
    db.session.flush()
    return node


def get_or_create_street(name: str) -> OrgUnit:
    return _child(None, "street", _clean_name(name, "street"))


def create_community(
    name: str, *, street: OrgUnit | None = None, monthly_budget: int | None = None
) -> OrgUnit:
    """A community under a street, with its issuance account. Refuses a duplicate name."""
    name = _clean_name(name, "name")
    if monthly_budget is not None and (type(monthly_budget) is not int or monthly_budget < 0):
        raise InvalidInput(
            _l("The monthly budget must be a whole number of points, zero or more."),
            field="monthly_budget",
        )
    if find_community(name) is not None:
        raise InvalidInput(
            _l("A community named “%(name)s” already exists."), field="name", name=name
        )
    community = _child(street, "community", name)
    community.monthly_budget = monthly_budget
    ledger.issuance_account(community)
    return community


def find_community(name: str) -> OrgUnit | None:
    return db.session.scalar(
        sa.select(OrgUnit).where(OrgUnit.kind == "community", OrgUnit.name == name.strip())
    )


def get_community(name: str) -> OrgUnit:
    community = find_community(name)
    if community is None:
        raise NotFound(_l("There is no community named “%(name)s”."), field="community", name=name)
    return community


def community_by_id(community_id: int | None) -> OrgUnit:
    """The community with this id (a person's, a form's): NotFound for none or another kind."""
    community = db.session.get(OrgUnit, community_id) if community_id else None
    if community is None or community.kind != "community":
        raise NotFound(_l("There is no such community."), field="community")
    return community


def teams_of(community_ids: list[int]) -> list[Team]:
    return list(
        db.session.scalars(
            sa.select(Team)
            .where(Team.community_id.in_(community_ids))
            .order_by(Team.community_id, Team.name)
        )
    )


def buildings_of(community_ids: list[int]) -> list[OrgUnit]:
    return list(
        db.session.scalars(
            sa.select(OrgUnit)
            .where(OrgUnit.kind == "building", OrgUnit.community_id.in_(community_ids))
            .order_by(OrgUnit.community_id, OrgUnit.path)
        )
    )


def get_node(node_id: int | None) -> OrgUnit:
    node = db.session.get(OrgUnit, node_id) if node_id else None
    if node is None:
        raise NotFound(_l("There is no such place."), field="place")
    return node


def get_team(team_id: int | None) -> Team:
    team = db.session.get(Team, team_id) if team_id else None
    if team is None:
        raise NotFound(_l("There is no such team."), field="team")
    return team


def communities() -> list[OrgUnit]:
    return list(
        db.session.scalars(
            sa.select(OrgUnit).where(OrgUnit.kind == "community").order_by(OrgUnit.id)
        )
    )


def place(
    community: OrgUnit,
    grid: str | None = None,
    building: str | None = None,
    unit: str | None = None,
    room: str | None = None,
) -> OrgUnit:
    """The deepest node for a resident's address, creating missing levels on the way.

    Levels left blank are skipped: a building without a grid hangs under the community.
    A room makes a household (户) node, the level family figures are counted on.
    """
    node = community
    for kind, name in zip(ORG_KINDS[2:], (grid, building, unit, room), strict=True):
        name = (name or "").strip()
        if name:
            node = _child(node, kind, _clean_name(name, kind))
    return node


def subtree_filter(column, node: OrgUnit):
    """A WHERE clause: `column` (an org_unit id) lies in node's subtree."""
    return column.in_(sa.select(OrgUnit.id).where(OrgUnit.path.startswith(node.path)))


def ancestors(node: OrgUnit) -> list[OrgUnit]:
    """The path from the street down to the node itself."""
    ids = [int(part) for part in node.path.strip("/").split("/") if part]
    found = {n.id: n for n in db.session.scalars(sa.select(OrgUnit).where(OrgUnit.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


# --- staff changes to the tree (audited) ---------------------------------------------------


def update_community_settings(
    community: OrgUnit, *, timezone: str | None, monthly_budget: int | None, actor, now
) -> OrgUnit:
    """A community's shown time zone and its monthly points budget (None: no limit)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from app.core import audit

    timezone = (timezone or "").strip() or None
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                _l("“%(zone)s” is not a known time zone (e.g. Asia/Shanghai)."),
                field="timezone",
                zone=timezone,
            ) from None
    if monthly_budget is not None and (type(monthly_budget) is not int or monthly_budget < 0):
        raise InvalidInput(
            _l("The budget is a whole number of points, 0 or more, or empty."),
            field="monthly_budget",
        )
    if monthly_budget != community.monthly_budget and not (actor and actor.has_role("admin")):
        # Budgets are the street's (PRODUCT.md): a worker cannot raise their own.
        raise NotPermitted(
            _l("Only the street administrator can change a community's budget."),
            field="monthly_budget",
        )
    before = {"timezone": community.timezone, "monthly_budget": community.monthly_budget}
    community.timezone = timezone
    community.monthly_budget = monthly_budget
    after = {"timezone": timezone, "monthly_budget": monthly_budget}
    if after != before:
        db.session.flush()
        audit.record(
            "community.settings",
            community,
            actor=actor,
            source="panel",
            now=now,
            before=before,
            after=after,
        )
    return community


def children(node: OrgUnit) -> list[OrgUnit]:
    return list(
        db.session.scalars(
            sa.select(OrgUnit).where(OrgUnit.parent_id == node.id).order_by(OrgUnit.name)
        )
    )


def residents_count(node: OrgUnit) -> int:
    from app.models import Person

    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Person)
            .where(subtree_filter(Person.org_unit_id, node))
        )
        or 0
    )


def move_household(household: OrgUnit, new_parent: OrgUnit, *, actor, now) -> OrgUnit:
    """Move a household (and its residents with it) under another unit or building of the
    same community."""
    from app.core import audit

    if household.kind != "household":
        raise InvalidInput(_l("Only a household can be moved."), field="household")
    if new_parent.kind not in ("unit", "building", "grid"):
        raise InvalidInput(_l("A household moves under a unit, building or grid."), field="to")
    if new_parent.community_id != household.community_id:
        raise InvalidInput(
            _l("A household moves within its community; residents change community one by one."),
            field="to",
        )
    clash = _find_child(new_parent, "household", household.name)
    if clash is not None and clash.id != household.id:
        raise InvalidInput(
            _l("There is already a household “%(name)s” there."), field="to", name=household.name
        )
    before = {"parent_id": household.parent_id, "path": household.path}
    household.parent_id = new_parent.id
    household.path = f"{new_parent.path}{household.id}/"
    db.session.flush()
    audit.record(
        "household.move",
        household,
        actor=actor,
        source="panel",
        now=now,
        before=before,
        after={"parent_id": new_parent.id, "path": household.path},
    )
    return household
