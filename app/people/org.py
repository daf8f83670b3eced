"""Services for the organisation tree: communities and the places people live."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core.errors import InvalidInput, NotFound, NotPermitted
from app.core.extensions import db
from app.core.paging import Page, paginate
from app.core.text import one_line
from app.models import Merchant, MerchantCommunity, OrgUnit, Team
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
    # Street-level red partners serve every community, this new one too.
    street_level = sa.select(Merchant.id).where(Merchant.tier == "street")
    db.session.add_all(
        MerchantCommunity(merchant_id=merchant_id, community_id=community.id)
        for merchant_id in db.session.scalars(street_level)
    )
    db.session.flush()
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


def find_node(node_id: int) -> OrgUnit | None:
    return db.session.get(OrgUnit, node_id)


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


def community_texted(number: str) -> OrgUnit | None:
    """The one community whose Linli number (`contact_number`) is `number`, as a gateway
    gives it (E.164 or a short code; spaces, dashes and a +86 aside); None when none or
    several share it."""

    def digits(text: str) -> str:
        found = "".join(ch for ch in text if ch.isdigit())
        return found[2:] if text.strip().startswith("+86") else found

    wanted = digits(number or "")
    if not wanted:
        return None
    found = [
        community
        for community in db.session.scalars(
            sa.select(OrgUnit).where(
                OrgUnit.kind == "community", OrgUnit.contact_number.is_not(None)
            )
        )
        if digits(community.contact_number or "") == wanted
    ]
    return found[0] if len(found) == 1 else None


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


def with_paths(nodes) -> list[tuple[OrgUnit, str]]:
    """(node, "第1网格 › 3号楼 › 1单元") for a list to choose from: each place once, named by
    its path below the community, in path order."""
    nodes = list(nodes)
    ids = {int(part) for n in nodes for part in n.path.strip("/").split("/") if part}
    found = {n.id: n for n in db.session.scalars(sa.select(OrgUnit).where(OrgUnit.id.in_(ids)))}
    labelled = []
    for n in nodes:
        trail = [found[int(p)] for p in n.path.strip("/").split("/") if p and int(p) in found]
        label = " › ".join(t.name for t in trail if t.kind not in ("street", "community"))
        labelled.append((n, label or n.name))
    return sorted(labelled, key=lambda pair: (pair[0].community_id or 0, pair[1]))


def subtree_filter(column, node: OrgUnit):
    """A WHERE clause: `column` (an org_unit id) lies in node's subtree."""
    return column.in_(sa.select(OrgUnit.id).where(OrgUnit.path.startswith(node.path)))


def ancestors(node: OrgUnit) -> list[OrgUnit]:
    """The path from the street down to the node itself."""
    ids = [int(part) for part in node.path.strip("/").split("/") if part]
    found = {n.id: n for n in db.session.scalars(sa.select(OrgUnit).where(OrgUnit.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


# --- staff changes to the tree (audited) ---------------------------------------------------


def community_page(text: str, *, community_ids: set[int] | None, page: int | None) -> Page:
    """Communities (these, or all) whose name contains `text`; one page of them."""
    query = sa.select(OrgUnit).where(OrgUnit.kind == "community")
    if community_ids is not None:
        query = query.where(OrgUnit.id.in_(community_ids))
    for word in (text or "").split()[:5]:
        query = query.where(OrgUnit.name.contains(word, autoescape=True))
    return paginate(query.order_by(OrgUnit.id), page)


def streets() -> list[OrgUnit]:
    return list(
        db.session.scalars(
            sa.select(OrgUnit).where(OrgUnit.kind == "street").order_by(OrgUnit.name)
        )
    )


def add_community(name: str, *, street_name: str, actor, now) -> OrgUnit:
    """The street administrator adds a community (its street is made if it is new)."""
    from app.core import audit

    if not (actor and actor.has_role("admin")):
        raise NotPermitted(
            _l("Only the street administrator can create a community."), field="name"
        )
    community = create_community(name, street=get_or_create_street(street_name))
    audit.record(
        "community.create",
        community,
        actor=actor,
        source="panel",
        now=now,
        after={"name": community.name, "street": community.parent_id},
    )
    return community


def update_community_settings(
    community: OrgUnit,
    *,
    timezone: str | None,
    monthly_budget: int | None,
    actor,
    now,
    name: str | None = None,
    contact_number: str | None = None,
) -> OrgUnit:
    """A community's name (administrator), shown time zone, monthly points budget (None: no
    limit; administrator) and the number residents text or call. `name` and
    `contact_number` None: unchanged."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from app.core import audit
    from app.core.phones import normalize_phone

    if name is None:
        name = community.name
    name = _clean_name(name, "name")
    if name != community.name:
        if not (actor and actor.has_role("admin")):
            raise NotPermitted(
                _l("Only the street administrator can rename a community."), field="name"
            )
        if find_community(name) is not None:
            raise InvalidInput(
                _l("A community named “%(name)s” already exists."), field="name", name=name
            )
    if contact_number is None:
        contact_number = community.contact_number
    else:
        contact_number = contact_number.strip() or None
        if contact_number is not None:
            digits = contact_number.replace(" ", "").replace("-", "")
            if digits.startswith("+"):
                contact_number = normalize_phone(digits)
            elif not digits.isdigit() or not 3 <= len(digits) <= 15:
                raise InvalidInput(
                    _l("The number has 3 to 15 digits (e.g. 10690000 or 010-12345678)."),
                    field="contact_number",
                )
            if len(contact_number) > 20:
                raise InvalidInput(
                    _l("The number has 3 to 15 digits (e.g. 10690000 or 010-12345678)."),
                    field="contact_number",
                )
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
    before = {
        "name": community.name,
        "timezone": community.timezone,
        "monthly_budget": community.monthly_budget,
        "contact_number": community.contact_number,
    }
    after = {
        "name": name,
        "timezone": timezone,
        "monthly_budget": monthly_budget,
        "contact_number": contact_number,
    }
    community.name = name
    community.timezone = timezone
    community.monthly_budget = monthly_budget
    community.contact_number = contact_number
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


# --- editing the tree below a community (grids, buildings, units, households) -------------

# Where each kind of node may hang.
PARENT_KINDS = {
    "grid": ("community",),
    "building": ("community", "grid"),
    "unit": ("building",),
    "household": ("unit", "building", "grid"),
}
EDITABLE_KINDS = tuple(PARENT_KINDS)


def _editable(node: OrgUnit) -> None:
    if node.kind not in EDITABLE_KINDS:
        raise InvalidInput(
            _l("Only grids, buildings, units and households are changed here."), field="place"
        )


def _node_snapshot(node: OrgUnit) -> dict:
    return {"name": node.name, "parent_id": node.parent_id, "path": node.path}


def _record(action: str, node: OrgUnit, *, actor, now, before=None, after=None) -> None:
    from app.core import audit

    audit.record(action, node, actor=actor, source="panel", now=now, before=before, after=after)


def add_node(parent: OrgUnit, kind: str, name: str, *, actor, now) -> OrgUnit:
    """A new grid, building, unit or household under `parent`."""
    if kind not in PARENT_KINDS or parent.kind not in PARENT_KINDS[kind]:
        raise InvalidInput(_l("That kind of place cannot go here."), field="kind")
    name = _clean_name(name, "name")
    if _find_child(parent, kind, name) is not None:
        raise InvalidInput(
            _l("There is already a place named “%(name)s” here."), field="name", name=name
        )
    node = _child(parent, kind, name)
    _record("org.add", node, actor=actor, now=now, after=_node_snapshot(node))
    return node


def rename_node(node: OrgUnit, name: str, *, actor, now) -> OrgUnit:
    _editable(node)
    name = _clean_name(name, "name")
    if name == node.name:
        return node
    clash = _find_child(node.parent, node.kind, name)
    if clash is not None:
        raise InvalidInput(
            _l("There is already a place named “%(name)s” here; merge the two instead."),
            field="name",
            name=name,
        )
    before = _node_snapshot(node)
    node.name = name
    db.session.flush()
    _record("org.rename", node, actor=actor, now=now, before=before, after=_node_snapshot(node))
    return node


def _repath(node: OrgUnit, new_parent: OrgUnit) -> None:
    """Hang `node` under `new_parent`, rewriting the paths of its whole subtree at once."""
    old = node.path
    new = f"{new_parent.path}{node.id}/"
    node.parent_id = new_parent.id
    db.session.flush()
    db.session.execute(
        sa.update(OrgUnit)
        .where(OrgUnit.path.startswith(old, autoescape=True))
        .values(path=sa.literal(new, sa.String) + sa.func.substr(OrgUnit.path, len(old) + 1))
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()


def move_node(node: OrgUnit, new_parent: OrgUnit, *, actor, now) -> OrgUnit:
    """Move a grid, building, unit or household (with everything and everyone in it) to
    another place of the same community."""
    _editable(node)
    if new_parent.kind not in PARENT_KINDS[node.kind]:
        raise InvalidInput(_l("That kind of place cannot go here."), field="to")
    if new_parent.community_id != node.community_id:
        raise InvalidInput(
            _l("A place moves within its community; residents change community one by one."),
            field="to",
        )
    if new_parent.path.startswith(node.path):
        raise InvalidInput(_l("A place cannot move inside itself."), field="to")
    if new_parent.id == node.parent_id:
        return node
    clash = _find_child(new_parent, node.kind, node.name)
    if clash is not None:
        raise InvalidInput(
            _l("There is already a place named “%(name)s” there; merge the two instead."),
            field="to",
            name=node.name,
        )
    before = _node_snapshot(node)
    _repath(node, new_parent)
    db.session.refresh(node)
    _record(
        f"{node.kind}.move", node, actor=actor, now=now, before=before, after=_node_snapshot(node)
    )
    return node


def delete_node(node: OrgUnit, *, actor, now) -> None:
    """Delete an empty place: no places under it, nobody living in it, no 三长 on it."""
    from app.models import LeaderRole, Person

    _editable(node)
    used = (
        db.session.scalar(sa.select(sa.func.count()).where(OrgUnit.parent_id == node.id))
        or db.session.scalar(sa.select(sa.func.count()).where(Person.org_unit_id == node.id))
        or db.session.scalar(sa.select(sa.func.count()).where(LeaderRole.org_unit_id == node.id))
    )
    if used:
        raise InvalidInput(
            _l("Only an empty place can be deleted (no places, residents or 三长 in it)."),
            field="place",
        )
    before = _node_snapshot(node)
    _record("org.delete", node, actor=actor, now=now, before=before)
    db.session.delete(node)
    db.session.flush()


def merge_nodes(source: OrgUnit, target: OrgUnit, *, actor, now) -> list[str]:
    """Merge `source` into `target` (same kind, same community: a typo such as 第一网格 beside
    第1网格): places under it, residents and 三长 roles move to `target`; places of the same
    name under both are merged too. Returns the conflicts to look at (two leaders of one
    place), in words."""

    _editable(source)
    if source.id == target.id:
        raise InvalidInput(_l("Choose another place to merge into."), field="into")
    if source.kind != target.kind or source.community_id != target.community_id:
        raise InvalidInput(
            _l("Only two places of the same kind in the same community can be merged."),
            field="into",
        )
    if target.path.startswith(source.path):
        raise InvalidInput(_l("A place cannot move inside itself."), field="into")
    before = {"source": _node_snapshot(source), "target": target.id}
    conflicts: list[str] = []
    _merge_into(source, target, conflicts)
    _record(
        "org.merge",
        target,
        actor=actor,
        now=now,
        before=before,
        after={"target": _node_snapshot(target), "conflicts": conflicts},
    )
    return conflicts


def _merge_into(source: OrgUnit, target: OrgUnit, conflicts: list[str]) -> None:
    from app.models import LeaderRole, Person

    for kid in children(source):
        twin = _find_child(target, kid.kind, kid.name)
        if twin is None:
            _repath(kid, target)
        else:
            _merge_into(kid, twin, conflicts)
    db.session.execute(
        sa.update(Person).where(Person.org_unit_id == source.id).values(org_unit_id=target.id)
    )
    for held in db.session.scalars(
        sa.select(LeaderRole).where(LeaderRole.org_unit_id == source.id)
    ):
        same = db.session.scalar(
            sa.select(LeaderRole).where(
                LeaderRole.org_unit_id == target.id,
                LeaderRole.role == held.role,
                LeaderRole.person_id == held.person_id,
            )
        )
        if same is not None:
            db.session.delete(held)
            continue
        others = db.session.scalars(
            sa.select(LeaderRole).where(
                LeaderRole.org_unit_id == target.id, LeaderRole.role == held.role
            )
        ).all()
        if others:
            conflicts.append(
                str(
                    _l(
                        "%(place)s now has two leaders (%(names)s); remove one.",
                        place=target.name,
                        names="、".join([o.person.name for o in others] + [held.person.name]),
                    )
                )
            )
        held.org_unit_id = target.id
    db.session.flush()
    db.session.delete(db.session.get(OrgUnit, source.id))
    db.session.flush()
    db.session.expire_all()
