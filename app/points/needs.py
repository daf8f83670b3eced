"""Needs and problems residents raise (需求清单, 接诉即办): 居民点单、社区派单、志愿者接单.

A resident (or a 三长 or worker for them) posts a need of a kind staff keep. Triage: it
goes to the kind's team, else the unit → building → grid leader of its place, then the
community's staff; each step has the kind's time limit and an overdue step climbs to the
next with a notice (`escalate_due`, run by `flask needs escalate` / the outbox runner).
Anyone may be assigned it by a worker or the leader it is with; a volunteer of the
community takes an open one (one of two at once wins: a conditional UPDATE). Done → the
resident confirms (the web, or `1` by text) or disputes (`2`); a worker confirms one left
unanswered `LINLI_NEED_CONFIRM_DAYS` days, or a disputed one. On confirmation the taker is
paid the kind's points once, from the community's issuance account (kind "need"; the
budget and the kind's monthly limit per taker apply; what they refuse stays unpaid with the
reason, for an administrator to pay). The resident rates it 1–5 once.

Anti-abuse: the resident, whoever posted it, and anyone of the resident's household may not
take it (a need made up to be paid for needs two households and a confirmation)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from app.channels import outbox
from app.core import audit, clock, files
from app.core.database import add_to_counter
from app.core.errors import BusinessRuleError, InvalidInput, LinliError, NotFound, NotPermitted
from app.core.extensions import db
from app.core.paging import Page, paginate
from app.core.text import one_line
from app.models import (
    LeaderRole,
    Merchant,
    MerchantOperator,
    Need,
    NeedCount,
    NeedEvent,
    NeedKind,
    NeedPhoto,
    OrgUnit,
    Person,
    Team,
    TeamMember,
)
from app.models.base import table_of
from app.models.needs import NEED_STEPS
from app.people import org, people
from app.points import awards

MAX_TEXT = 300
MAX_PHOTOS = 3
MAX_POINTS = 1000
# The leaders' steps, each with the level of the tree its leader holds.
LEADER_STEPS = (("unit_leader", "unit"), ("building_leader", "building"), ("grid_leader", "grid"))
# Where a need may be: a home, or a building or place of the tree.
PLACE_KINDS = ("household", "unit", "building", "grid", "community")

STEP_NAMES = {
    "team": _l("the service team"),
    "unit_leader": _l("the unit leader"),
    "building_leader": _l("the building leader"),
    "grid_leader": _l("the grid leader"),
    "community": _l("the community's staff"),
}
STATUS_NAMES = {
    "open": _l("Waiting for a taker"),
    "taken": _l("Being handled"),
    "done": _l("Done, waiting for confirmation"),
    "disputed": _l("Disputed by the resident"),
    "confirmed": _l("Solved"),
    "closed": _l("Closed"),
    "merged": _l("Merged with another"),
}
ACTION_NAMES = {
    "posted": _l("Posted"),
    "step": _l("Passed to %(step)s"),
    "overdue": _l("Overdue: passed to %(step)s"),
    "assigned": _l("Assigned"),
    "team": _l("Given to a team"),
    "unit": _l("Given to a partner unit"),
    "department": _l("Passed to a department"),
    "taken": _l("Taken"),
    "released": _l("Given back"),
    "done": _l("Marked done"),
    "disputed": _l("Disputed"),
    "reopened": _l("Opened again"),
    "confirmed": _l("Confirmed"),
    "paid": _l("Points paid"),
    "unpaid": _l("Points not paid yet"),
    "rated": _l("Rated"),
    "closed": _l("Closed"),
    "merged": _l("Merged"),
    "withdrawn": _l("Withdrawn by the resident"),
}
ACTIVE = ("open", "taken", "done", "disputed")


# --- kinds (staff keep the list) ----------------------------------------------------------


@dataclass
class KindFields:
    name: str
    points: int
    step_hours: int
    team_id: int | None = None
    monthly_limit: int | None = None
    keywords: str = ""
    active: bool = True


def _clean_kind(fields: KindFields, community_id: int | None) -> dict:
    name = one_line(
        fields.name,
        field="name",
        max_length=50,
        required=_l("Give the kind a name."),
        too_long=_l("The name is longer than %(max)s characters."),
    )
    keywords = " ".join(
        one_line(
            fields.keywords,
            field="keywords",
            max_length=200,
            required=None,
            too_long=_l("The keywords are longer than %(max)s characters."),
        ).split()
    )
    if type(fields.points) is not int or not 0 <= fields.points <= MAX_POINTS:
        raise InvalidInput(
            _l("Points must be a whole number from 0 to %(max)s."), field="points", max=MAX_POINTS
        )
    if type(fields.step_hours) is not int or not 1 <= fields.step_hours <= 24 * 14:
        raise InvalidInput(
            _l("Each step's time limit is from 1 hour to 14 days."), field="step_hours"
        )
    if fields.monthly_limit is not None and (
        type(fields.monthly_limit) is not int or fields.monthly_limit < 1
    ):
        raise InvalidInput(_l("The monthly limit must be at least 1."), field="monthly_limit")
    if fields.team_id is not None:
        team = db.session.get(Team, fields.team_id)
        if team is None or (community_id is not None and team.community_id != community_id):
            raise NotFound(_l("There is no such team."), field="team_id")
        if community_id is None:
            raise InvalidInput(
                _l("A street-wide kind cannot have one community's team."), field="team_id"
            )
    return {
        "name": name,
        "keywords": keywords,
        "points": fields.points,
        "step_hours": fields.step_hours,
        "team_id": fields.team_id,
        "monthly_limit": fields.monthly_limit,
        "active": bool(fields.active),
    }


def create_kind(
    community: OrgUnit | None, fields: KindFields, *, actor: Person, now: datetime
) -> NeedKind:
    kind = NeedKind(
        community_id=community.id if community else None,
        created_at=now,
        **_clean_kind(fields, community.id if community else None),
    )
    db.session.add(kind)
    db.session.flush()
    audit.record("need_kind.create", kind, actor=actor, source="panel", now=now)
    return kind


def update_kind(kind: NeedKind, fields: KindFields, *, actor: Person, now: datetime) -> NeedKind:
    values = _clean_kind(fields, kind.community_id)
    before = {key: getattr(kind, key) for key in values}
    for key, value in values.items():
        setattr(kind, key, value)
    db.session.flush()
    audit.record(
        "need_kind.update", kind, actor=actor, source="panel", now=now, before=before, after=values
    )
    return kind


def kinds_for(community_ids: set[int] | None, *, active_only: bool = False) -> list[NeedKind]:
    """The street's kinds and those of these communities (all, for None)."""
    query = sa.select(NeedKind).order_by(NeedKind.community_id.is_not(None), NeedKind.id)
    if community_ids is not None:
        query = query.where(
            sa.or_(NeedKind.community_id.is_(None), NeedKind.community_id.in_(community_ids))
        )
    if active_only:
        query = query.where(NeedKind.active.is_(True))
    return list(db.session.scalars(query))


def get_kind(kind_id: int | None, community_ids: set[int] | None) -> NeedKind:
    kind = db.session.get(NeedKind, kind_id) if kind_id else None
    if kind is None or (
        community_ids is not None
        and kind.community_id is not None
        and kind.community_id not in community_ids
    ):
        raise NotFound(_l("There is no such kind of need."), field="kind")
    return kind


def kind_for_text(community_id: int, text: str) -> NeedKind:
    """The kind a texted need is of: the first whose keyword (or name) it contains, else
    the first kind without keywords (the catch-all), else the first kind."""
    kinds = kinds_for({community_id}, active_only=True)
    if not kinds:
        raise BusinessRuleError(
            _l("Your community takes no requests by text yet; please call the community.")
        )
    lowered = text.lower()
    for kind in kinds:
        words = [kind.name, *kind.keywords.split()]
        if any(word and word.lower() in lowered for word in words):
            return kind
    return next((kind for kind in kinds if not kind.keywords), kinds[0])


# --- posting ------------------------------------------------------------------------------


def _ancestor_of_kind(place: OrgUnit | None, kind: str) -> OrgUnit | None:
    if place is None:
        return None
    return next((node for node in org.ancestors(place) if node.kind == kind), None)


def may_post_for(poster: Person, resident: Person) -> bool:
    """The resident themselves; a worker of their community; a 三长 leading their place."""
    if poster.id == resident.id:
        return True
    scope = people.visible_community_ids(poster)
    if poster.has_role("staff") or poster.has_role("admin"):
        return scope is None or resident.community_id in scope
    if resident.org_unit is None:
        return False
    led = {
        held.org_unit_id
        for held in db.session.scalars(sa.select(LeaderRole).filter_by(person_id=poster.id))
    }
    return any(node.id in led for node in org.ancestors(resident.org_unit))


def post(
    resident: Person,
    text: str,
    *,
    kind: NeedKind,
    now: datetime,
    source: str,
    posted_by: Person | None = None,
    place: OrgUnit | None = None,
    place_note: str = "",
    photos: list[bytes] | tuple = (),
) -> Need:
    """A need of `resident`, at their home unless `place` (a node of their community) is
    given, sent to the first step of its triage with a notice."""
    posted_by = posted_by or resident
    if resident.community_id is None:
        raise NotPermitted(_l("Only a resident of a community can ask for help."))
    if not may_post_for(posted_by, resident):
        raise NotPermitted(_l("You may not post a need for this resident."), field="resident")
    if kind.community_id not in (None, resident.community_id) or not kind.active:
        raise NotFound(_l("There is no such kind of need."), field="kind")
    text = one_line(
        text,
        field="text",
        max_length=MAX_TEXT,
        required=_l("Say what is needed, e.g. the kitchen tap leaks."),
        too_long=_l("The request is longer than %(max)s characters."),
    )
    place_note = one_line(
        place_note,
        field="place_note",
        max_length=100,
        required=None,
        too_long=_l("The place is longer than %(max)s characters."),
    )
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(_l("At most %(max)s photos."), field="photos", max=MAX_PHOTOS)
    if place is None:
        place = resident.org_unit
    elif place.community_id != resident.community_id or place.kind not in PLACE_KINDS:
        raise NotFound(_l("There is no such place in your community."), field="place")
    open_now = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Need)
        .where(Need.resident_id == resident.id, Need.status.in_(ACTIVE))
    )
    limit = current_app.config["NEEDS_OPEN_PER_RESIDENT"]
    if open_now >= limit:
        raise BusinessRuleError(
            _l("%(count)s requests of yours are still open; wait until one is solved."),
            field="text",
            count=open_now,
        )
    grid = _ancestor_of_kind(place, "grid")
    need = Need(
        community_id=resident.community_id,
        kind_id=kind.id,
        text=text,
        place_id=place.id if place else None,
        grid_id=grid.id if grid is not None else None,
        place_note=place_note,
        resident_id=resident.id,
        posted_by_id=posted_by.id,
        source=source,
        status="open",
        step="community",
        team_id=kind.team_id,
        created_at=now,
    )
    db.session.add(need)
    db.session.flush()
    for position, jpeg in enumerate(photos, start=1):
        name = files.replace_photo("need-photo", need.id, None, jpeg, now=now)
        db.session.add(NeedPhoto(need_id=need.id, position=position, file_name=name))
    _event(need, "posted", posted_by, now, "" if posted_by.id == resident.id else resident.name)
    _enter_step(need, 0, now)
    audit.record(
        "need.create",
        need,
        actor=posted_by,
        source=source,
        now=now,
        after={"resident_id": resident.id, "kind": kind.name},
    )
    return need


def _event(need: Need, action: str, actor: Person | None, now: datetime, note: str = "") -> None:
    db.session.add(
        NeedEvent(
            need_id=need.id,
            action=action,
            actor_id=actor.id if actor else None,
            note=note[:200],
            at=now,
        )
    )


# --- triage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    name: str  # NEED_STEPS
    node: OrgUnit | None
    people: list[Person]


def _team_people(team_id: int) -> list[Person]:
    return list(
        db.session.scalars(
            sa.select(Person)
            .join(TeamMember, TeamMember.person_id == Person.id)
            .where(TeamMember.team_id == team_id, Person.is_active_account.is_(True))
            .order_by(TeamMember.is_leader.desc(), Person.id)
        )
    )


def chain(need: Need) -> list[Step]:
    """Who looks at the need, in order: its team, the 三长 of its place (those there are),
    the community's staff (always)."""
    steps = []
    if need.team_id is not None:
        steps.append(Step("team", None, _team_people(need.team_id)))
    nodes = {node.kind: node for node in (org.ancestors(need.place) if need.place else [])}
    for role, level in LEADER_STEPS:
        node = nodes.get(level)
        if node is None:
            continue
        leaders = list(
            db.session.scalars(
                sa.select(Person)
                .join(LeaderRole, LeaderRole.person_id == Person.id)
                .where(LeaderRole.org_unit_id == node.id, LeaderRole.role == role)
                .where(Person.id != need.resident_id, Person.is_active_account.is_(True))
                .order_by(Person.id)
            )
        )
        if leaders:
            steps.append(Step(role, node, leaders))
    steps.append(Step("community", need.community, people.staff_of(need.community_id)))
    return [step for step in steps if step.people or step.name == "community"]


def _summary(need: Need) -> str:
    """The need in a notice: its number, words and building (never the room: a notice may
    go to a whole team; the room is on the page of those who may read it)."""
    nodes = org.ancestors(need.place) if need.place else []
    building = next((n.name for n in reversed(nodes) if n.kind in ("building", "grid")), "")
    where = need.place_note or building
    return f"#{need.id} {need.text[:60]}" + (f"（{where}）" if where else "")


def _enter_step(need: Need, index: int, now: datetime, *, overdue: bool = False) -> None:
    steps = chain(need)
    step = steps[min(index, len(steps) - 1)]
    need.step = step.name
    need.step_node_id = step.node.id if step.node is not None else None
    last = step.name == "community"
    need.step_due_at = None if last else now + timedelta(hours=need.kind.step_hours)
    if index > 0 or overdue:
        _event(need, "overdue" if overdue else "step", None, now, step.name)
    for person in step.people:
        if overdue:
            text = _l(
                "Linli: a request nobody took in time comes to you: %(need)s. Text TAKE %(id)s "
                "to take it, or pass it to a volunteer."
            )
        else:
            text = _l(
                "Linli: a resident asks for help: %(need)s. Text TAKE %(id)s to take it, or "
                "pass it to a volunteer."
            )
        outbox.tell(person, "need", text, now=now, need=_summary(need), id=need.id)
    db.session.flush()


def _next_step(steps: list[str], current: str) -> int:
    """The index in `steps` of the first step above `current` (a leader who left since is
    passed over: a need only ever climbs), else the last (the staff)."""
    level = NEED_STEPS.index(current)
    above = [i for i, name in enumerate(steps) if NEED_STEPS.index(name) > level]
    return above[0] if above else len(steps) - 1


def escalate_due(now: datetime, *, limit: int = 200) -> int:
    """Move each open need whose step is overdue to the next step, with a notice; returns
    how many moved. Safe to run from several places at once: each move is claimed by a
    conditional UPDATE on the step it saw."""
    due = list(
        db.session.scalars(
            sa.select(Need)
            .where(Need.status == "open", Need.step_due_at <= now)
            .order_by(Need.step_due_at, Need.id)
            .limit(limit)
        )
    )
    moved = 0
    table = table_of(Need)
    for need in due:
        steps = [step.name for step in chain(need)]
        claimed = db.session.execute(
            sa.update(table)
            .where(
                table.c.id == need.id,
                table.c.status == "open",
                table.c.step == need.step,
                table.c.step_due_at == need.step_due_at,
            )
            .values(step_due_at=None)
            .returning(table.c.id)
        ).first()
        if claimed is None:
            continue
        db.session.refresh(need)
        if need.step == "team":  # the team let it lie: any volunteer of the place may now
            need.team_id = None
            db.session.flush()
            _enter_step(need, 0, now, overdue=True)
        else:
            _enter_step(need, _next_step(steps, need.step), now, overdue=True)
        moved += 1
    return moved


def is_overdue(need: Need, now: datetime) -> bool:
    return need.status == "open" and need.step_due_at is not None and need.step_due_at <= now


# --- who may see and do what --------------------------------------------------------------


def _household(person: Person) -> int | None:
    node = person.org_unit
    return node.id if node is not None and node.kind == "household" else None


def take_refusal(need: Need, person: Person, *, any_team: bool = False) -> str | None:
    """Why `person` may not take `need` (None: they may); `any_team`: the need's team does
    not bind (a worker chose the person)."""
    if need.status != "open":
        return str(_l("This request was already taken."))
    if need.merchant_id is not None:  # a partner unit's: its operators take it
        if not _operates(person, need.merchant_id):
            return str(_l("This request was given to a partner unit."))
        return None
    if person.community_id != need.community_id:
        return str(_l("Only volunteers of the request's community may take it."))
    if person.id in (need.resident_id, need.posted_by_id):
        return str(_l("You cannot take your own request."))
    home = _household(need.resident)
    if home is not None and _household(person) == home:
        return str(_l("You cannot take a request of your own household."))
    if (
        need.team_id is not None
        and not any_team
        and not db.session.scalar(
            sa.select(TeamMember.person_id).filter_by(team_id=need.team_id, person_id=person.id)
        )
    ):
        team = need.team.name if need.team is not None else ""
        return str(_l("This request is for the team %(team)s.", team=team))
    return None


def staff_may(actor: Person, need: Need) -> bool:
    scope = people.visible_community_ids(actor)
    return (actor.has_role("staff") or actor.has_role("admin")) and (
        scope is None or need.community_id in scope
    )


def leads_step(actor: Person, need: Need) -> bool:
    """The 三长 the need is with now (they triage it: assign it or take it)."""
    if need.step_node_id is None or need.step not in dict(LEADER_STEPS):
        return False
    return bool(
        db.session.scalar(
            sa.select(LeaderRole.id).filter_by(
                person_id=actor.id, org_unit_id=need.step_node_id, role=need.step
            )
        )
    )


def _operates(person: Person, merchant_id: int) -> bool:
    return bool(
        db.session.scalar(
            sa.select(MerchantOperator.person_id).filter_by(
                merchant_id=merchant_id, person_id=person.id
            )
        )
    )


def close_to(person: Person, need: Need) -> bool:
    """Its resident, poster and taker, the operators of the partner unit it was given to,
    the leaders of its place and its community's staff: those who may read its address."""
    if person.id in (need.resident_id, need.posted_by_id, need.taker_id):
        return True
    if need.merchant_id is not None and _operates(person, need.merchant_id):
        return True
    if staff_may(person, need):
        return True
    if need.place is None:
        return False
    nodes = [node.id for node in org.ancestors(need.place)]
    return bool(
        db.session.scalar(
            sa.select(LeaderRole.id).where(
                LeaderRole.person_id == person.id, LeaderRole.org_unit_id.in_(nodes)
            )
        )
    )


def may_see(person: Person, need: Need) -> bool:
    """Those close to it; and the volunteers of its community while it is open."""
    if need.status == "open" and person.community_id == need.community_id:
        return True
    return close_to(person, need)


def where(need: Need, viewer: Person) -> str:
    """The need's place as `viewer` may read it: down to the room for those close to it,
    else the grid and building only (a volunteer deciding whether to take it)."""
    nodes = [n for n in (org.ancestors(need.place) if need.place else []) if n.kind in PLACE_KINDS]
    nodes = [n for n in nodes if n.kind != "community"]
    if not close_to(viewer, need):
        nodes = [n for n in nodes if n.kind in ("grid", "building")]
    shown = " › ".join(n.name for n in nodes) or need.community.name
    return f"{shown} · {need.place_note}" if need.place_note else shown


def get(need_id: int, viewer: Person) -> Need:
    need = db.session.get(Need, need_id)
    if need is not None and not may_see(viewer, need) and viewer.community_id == need.community_id:
        # A neighbour who saw it open (and was a moment late) is told so, and no more.
        raise BusinessRuleError(_l("This request was already taken."), field="need")
    if need is None or not may_see(viewer, need):
        raise NotFound(_l("There is no such request."), field="need")
    return need


def get_for_staff(need_id: int, community_ids: set[int] | None) -> Need:
    need = db.session.get(Need, need_id)
    if need is None or (community_ids is not None and need.community_id not in community_ids):
        raise NotFound(_l("There is no such request."), field="need")
    return need


def grid_of(person: Person) -> OrgUnit | None:
    return _ancestor_of_kind(person.org_unit, "grid")


def open_for(person: Person, *, whole_community: bool = False, limit: int = 50) -> list[Need]:
    """Open needs a volunteer may take: their grid's (or the whole community's), oldest
    first, not their own."""
    query = (
        sa.select(Need)
        .where(
            Need.community_id == person.community_id,
            Need.status == "open",
            Need.resident_id != person.id,
        )
        .options(selectinload(Need.kind), selectinload(Need.grid), selectinload(Need.community))
        .order_by(Need.created_at, Need.id)
        .limit(limit)
    )
    grid = None if whole_community else grid_of(person)
    if grid is not None:
        query = query.where(Need.grid_id == grid.id)
    return list(db.session.scalars(query))


def for_units(person: Person, *, limit: int = 50) -> list[Need]:
    """Requests given to the partner units the person operates that are open or theirs."""
    return list(
        db.session.scalars(
            sa.select(Need)
            .join(MerchantOperator, MerchantOperator.merchant_id == Need.merchant_id)
            .where(MerchantOperator.person_id == person.id, Need.status.in_(("open", "taken")))
            .options(selectinload(Need.kind))
            .order_by(Need.created_at, Need.id)
            .limit(limit)
        )
    )


def mine(person: Person, *, limit: int = 50) -> list[Need]:
    """The needs a person asked for or was posted for, newest first."""
    return list(
        db.session.scalars(
            sa.select(Need)
            .where(Need.resident_id == person.id)
            .options(selectinload(Need.kind), selectinload(Need.grid), selectinload(Need.community))
            .order_by(Need.created_at.desc(), Need.id.desc())
            .limit(limit)
        )
    )


def taken_by(person: Person, *, limit: int = 50) -> list[Need]:
    return list(
        db.session.scalars(
            sa.select(Need)
            .where(Need.taker_id == person.id)
            .options(selectinload(Need.kind), selectinload(Need.grid), selectinload(Need.community))
            .order_by(Need.status.in_(("taken", "disputed")).desc(), Need.id.desc())
            .limit(limit)
        )
    )


def for_staff(
    community_ids: set[int] | None, *, status: str | None = None, page: int | None = None
) -> Page:
    """The panel's list, a page at a time: the active ones, oldest first (or those of
    `status`, newest first)."""
    query = sa.select(Need).options(
        selectinload(Need.kind),
        selectinload(Need.resident),
        selectinload(Need.taker),
        selectinload(Need.community),
    )
    if status:
        query = query.where(Need.status == status).order_by(Need.id.desc())
    else:
        query = query.where(Need.status.in_(ACTIVE)).order_by(Need.created_at, Need.id)
    if community_ids is not None:
        query = query.where(Need.community_id.in_(community_ids))
    return paginate(query, page)


def waiting_for_staff_query(community_ids: set[int] | None, now: datetime) -> sa.Select:
    """Needs staff must act on: with them in triage, disputed, unanswered past the days a
    resident has to confirm, or confirmed and not paid."""
    confirm_by = now - timedelta(days=current_app.config["NEED_CONFIRM_DAYS"])
    query = sa.select(Need.id).where(
        sa.or_(
            sa.and_(Need.status == "open", Need.step == "community"),
            Need.status == "disputed",
            sa.and_(Need.status == "done", Need.done_at <= confirm_by),
            sa.and_(Need.status == "confirmed", Need.unpaid_reason != ""),
        )
    )
    if community_ids is not None:
        query = query.where(Need.community_id.in_(community_ids))
    return query


def waiting_for_staff(community_ids: set[int] | None, now: datetime) -> int:
    query = waiting_for_staff_query(community_ids, now).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(query)) or 0


# --- the way of a need --------------------------------------------------------------------


def _move(need: Need, from_: tuple[str, ...], values: dict, refusal) -> None:
    """Change the need's status from one of `from_` in one conditional UPDATE: of two
    doing it at once, the second is refused with `refusal`."""
    table = table_of(Need)
    moved = db.session.execute(
        sa.update(table)
        .where(table.c.id == need.id, table.c.status.in_(from_))
        .values(**values)
        .returning(table.c.id)
    ).first()
    if moved is None:
        raise BusinessRuleError(refusal, field="need")
    db.session.refresh(need)


def _hand_over(need: Need, person: Person, now: datetime, *, field: str, by_name: bool) -> None:
    """Make `person` the taker of the open need, if they may be (`by_name`: chosen by a
    worker or leader, who need not pick from the need's team); of two at once, one wins."""
    refusal = take_refusal(need, person, any_team=by_name)
    if refusal is not None:
        raise BusinessRuleError(refusal, field=field)
    values = {"status": "taken", "taker_id": person.id, "taken_at": now, "step_due_at": None}
    if by_name:
        values["team_id"] = None
    _move(need, ("open",), values, _l("This request was already taken."))


def take(need: Need, person: Person, *, now: datetime, source: str) -> Need:
    """A volunteer takes an open need; of two at once, one wins."""
    _hand_over(need, person, now, field="need", by_name=False)
    _event(need, "taken", person, now)
    outbox.tell(
        need.resident,
        "need",
        _l("Linli: %(name)s will help with your request %(need)s."),
        now=now,
        name=person.name,
        need=_summary(need),
    )
    audit.record("need.take", need, actor=person, source=source, now=now)
    return need


def assign(
    need: Need,
    *,
    actor: Person,
    now: datetime,
    person: Person | None = None,
    team: Team | None = None,
) -> Need:
    """A worker of the community, or the 三长 the need is with, gives it to a volunteer
    (taken at once in their name; they are told and may give it back) or to a team (whose
    members may then take it)."""
    if not (staff_may(actor, need) or leads_step(actor, need)):
        raise NotPermitted(_l("Only the community's staff or its leader may assign it."))
    if need.status != "open":
        raise BusinessRuleError(_l("This request was already taken."), field="need")
    if team is not None:
        if team.community_id != need.community_id:
            raise NotFound(_l("There is no such team."), field="team")
        _move(need, ("open",), {"team_id": team.id}, _l("This request was already taken."))
        _event(need, "team", actor, now, team.name)
        for member in _team_people(team.id):
            outbox.tell(
                member,
                "need",
                _l("Linli: a request for your team: %(need)s. Text TAKE %(id)s to take it."),
                now=now,
                need=_summary(need),
                id=need.id,
            )
        audit.record("need.assign", need, actor=actor, source="panel", now=now)
        return need
    if person is None:
        raise InvalidInput(_l("Choose a volunteer or a team."), field="person")
    _hand_over(need, person, now, field="person", by_name=True)
    _event(need, "assigned", actor, now, person.name)
    outbox.tell(
        person,
        "need",
        _l(
            "Linli: %(who)s asks you to help with %(need)s. When it is done, text DONE %(id)s; "
            "if you cannot, text RELEASE %(id)s."
        ),
        now=now,
        who=actor.name,
        need=_summary(need),
        id=need.id,
    )
    audit.record(
        "need.assign", need, actor=actor, source="panel", now=now, after={"taker_id": person.id}
    )
    return need


def give_to_unit(need: Need, merchant_id: int, *, actor: Person, now: datetime) -> Need:
    """Give an open need to a partner unit (共建单位): its operators are told, and one of
    them takes it through their own account (the unit is not paid in points)."""
    if not (staff_may(actor, need) or leads_step(actor, need)):
        raise NotPermitted(_l("Only the community's staff or its leader may assign it."))
    _move(
        need,
        ("open",),
        {"merchant_id": merchant_id, "team_id": None, "resource_id": need.resource_id},
        _l("This request was already taken."),
    )
    merchant = db.session.get(Merchant, merchant_id)
    _event(need, "unit", actor, now, merchant.name if merchant else "")
    for operator in db.session.scalars(
        sa.select(Person)
        .join(MerchantOperator, MerchantOperator.person_id == Person.id)
        .where(MerchantOperator.merchant_id == merchant_id)
    ):
        outbox.tell(
            operator,
            "need",
            _l(
                "Linli: a community asks your unit for help: %(need)s. Text TAKE %(id)s to take it."
            ),
            now=now,
            need=_summary(need),
            id=need.id,
        )
    audit.record(
        "need.assign",
        need,
        actor=actor,
        source="panel",
        now=now,
        after={"merchant_id": merchant_id},
    )
    return need


def whistle(need: Need, department: str, *, actor: Person, now: datetime) -> Need:
    """社区吹哨、部门报到: a worker passes the need to a department of the street (城管,
    房管所, 派出所 …); it is being handled there, and a worker records the department's answer
    as done (`done`); the resident is told and confirms as for any other."""
    if not staff_may(actor, need):
        raise NotPermitted(_l("Only the community's staff may pass it to a department."))
    department = one_line(
        department,
        field="department",
        max_length=50,
        required=_l("Name the department."),
        too_long=_l("The department's name is longer than %(max)s characters."),
    )
    _move(
        need,
        ("open",),
        {"status": "taken", "department": department, "taken_at": now, "step_due_at": None},
        _l("This request was already taken."),
    )
    _event(need, "department", actor, now, department)
    outbox.tell(
        need.resident,
        "need",
        _l("Linli: your request %(need)s was passed to %(department)s; you will hear back."),
        now=now,
        need=_summary(need),
        department=department,
    )
    audit.record(
        "need.whistle", need, actor=actor, source="panel", now=now, after={"department": department}
    )
    return need


def departments_used(community_ids: set[int] | None) -> list[str]:
    """The departments requests were passed to before (to choose from again)."""
    query = (
        sa.select(Need.department).where(Need.department != "").distinct().order_by(Need.department)
    )
    if community_ids is not None:
        query = query.where(Need.community_id.in_(community_ids))
    return list(db.session.scalars(query.limit(50)))


def release(need: Need, person: Person, *, now: datetime, source: str) -> Need:
    """The taker gives it back: open again, at the step it was with, with a fresh time."""
    if need.taker_id != person.id:
        raise NotPermitted(_l("Only the volunteer who took it may give it back."), field="need")
    _move(
        need,
        ("taken",),
        {"status": "open", "taker_id": None, "taken_at": None},
        _l("This request is no longer being handled."),
    )
    _event(need, "released", person, now)
    steps = [step.name for step in chain(need)]
    here = steps.index(need.step) if need.step in steps else _next_step(steps, need.step)
    _enter_step(need, here, now)
    return need


def done(need: Need, person: Person, *, note: str = "", now: datetime, source: str) -> Need:
    """The taker marks it done (for a department, a worker records its answer); the
    resident is asked to confirm."""
    for_department = bool(need.department) and need.taker_id is None and staff_may(person, need)
    if need.taker_id != person.id and not for_department:
        raise NotPermitted(_l("Only the volunteer who took it may mark it done."), field="need")
    note = one_line(
        note,
        field="note",
        max_length=200,
        required=None,
        too_long=_l("The note is longer than %(max)s characters."),
    )
    _move(
        need,
        ("taken",),
        {"status": "done", "done_at": now, "done_note": note},
        _l("This request is not being handled by you now."),
    )
    _event(need, "done", person, now, note)
    outbox.tell(
        need.resident,
        "need",
        _l(
            "Linli: %(name)s says your request %(need)s is done. Reply 1 if it is, or 2 and "
            "what is still wrong."
        ),
        now=now,
        name=need.department if for_department else person.name,
        need=_summary(need),
    )
    return need


def may_staff_confirm(need: Need, now: datetime) -> bool:
    days = current_app.config["NEED_CONFIRM_DAYS"]
    return need.status == "disputed" or (
        need.status == "done"
        and need.done_at is not None
        and need.done_at <= now - timedelta(days=days)
    )


def confirm(need: Need, actor: Person, *, now: datetime, source: str) -> Need:
    """The resident confirms it is done (or a worker: one disputed, or one the resident
    left unanswered for the days allowed); the taker is paid once."""
    if actor.id == need.resident_id:
        from_: tuple[str, ...] = ("done",)
    elif staff_may(actor, need):
        if not may_staff_confirm(need, now):
            raise BusinessRuleError(
                _l("The resident has %(days)s days to confirm; after that staff may."),
                field="need",
                days=current_app.config["NEED_CONFIRM_DAYS"],
            )
        from_ = ("done", "disputed")
    else:
        raise NotPermitted(_l("Only the resident may confirm it."), field="need")
    if actor.id == need.taker_id:
        raise NotPermitted(_l("The volunteer who did it cannot confirm it."), field="need")
    _move(
        need,
        from_,
        {"status": "confirmed", "confirmed_at": now, "confirmed_by_id": actor.id},
        _l("Nothing of this request is waiting for a confirmation."),
    )
    _event(need, "confirmed", actor, now)
    audit.record("need.confirm", need, actor=actor, source=source, now=now)
    pay(need, actor=actor, now=now)
    return need


def pay(need: Need, *, actor: Person, now: datetime, may_exceed_budget: bool = False) -> Need:
    """Pay the taker the kind's points for a confirmed need, once (the key is the need's):
    the budget and the kind's monthly limit apply; what they refuse is kept as the reason it
    is unpaid, and the need stays confirmed. An administrator may pay past the budget."""
    if need.status != "confirmed" or need.taker_id is None or need.transaction_id is not None:
        return need
    kind = need.kind
    if kind.points <= 0 or need.merchant_id is not None:  # a partner unit's work: no points
        return need
    taker = need.taker
    assert taker is not None
    try:
        with db.session.begin_nested():
            period = "M" + clock.local(now, need.community).strftime("%Y-%m")
            if not add_to_counter(
                table_of(NeedCount),
                {"kind_id": kind.id, "person_id": taker.id, "period": period},
                "used",
                1,
                kind.monthly_limit,
            ):
                raise BusinessRuleError(
                    _l("%(name)s was paid for %(max)s requests of this kind this month already."),
                    name=taker.name,
                    max=kind.monthly_limit,
                )
            txn = awards.award(
                taker,
                kind.points,
                reason=f"{kind.name}：{need.text}"[:200],
                idempotency_key=f"need:{need.id}",
                now=now,
                actor=actor,
                source="need",
                kind="need",
                may_exceed_budget=may_exceed_budget,
                community=need.community,
            )
    except LinliError as exc:
        need.unpaid_reason = str(exc)[:200]
        _event(need, "unpaid", actor, now, need.unpaid_reason)
        db.session.flush()
        return need
    need.transaction_id = txn.id
    need.unpaid_reason = ""
    _event(need, "paid", actor, now, str(kind.points))
    db.session.flush()
    return need


def dispute(need: Need, resident: Person, *, reason: str, now: datetime, source: str) -> Need:
    """The resident says it is not done: the community's staff decide (confirm, or open it
    again); the taker is told."""
    if resident.id != need.resident_id:
        raise NotPermitted(_l("Only the resident may dispute it."), field="need")
    reason = one_line(
        reason,
        field="reason",
        max_length=200,
        required=_l("Say what is still wrong."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    _move(
        need,
        ("done",),
        {"status": "disputed", "dispute_reason": reason},
        _l("Nothing of this request is waiting for a confirmation."),
    )
    _event(need, "disputed", resident, now, reason)
    if need.taker is not None:
        outbox.tell(
            need.taker,
            "need",
            _l("Linli: the resident says %(need)s is not done yet: %(reason)s. Staff will decide."),
            now=now,
            need=_summary(need),
            reason=reason,
        )
    for worker in people.staff_of(need.community_id):
        outbox.tell(
            worker,
            "need",
            _l("Linli: a resident disputes that %(need)s is done: %(reason)s."),
            now=now,
            need=_summary(need),
            reason=reason,
        )
    return need


def reopen(need: Need, *, actor: Person, now: datetime) -> Need:
    """A worker opens a disputed need again: the taker is let go and it is with the staff."""
    if not staff_may(actor, need):
        raise NotPermitted(_l("Only the community's staff may open it again."), field="need")
    taker = need.taker
    _move(
        need,
        ("disputed",),
        {"status": "open", "taker_id": None, "taken_at": None, "done_at": None, "department": ""},
        _l("Only a disputed request can be opened again."),
    )
    _event(need, "reopened", actor, now)
    need.step, need.step_node_id, need.step_due_at = "community", None, None
    db.session.flush()
    if taker is not None:
        outbox.tell(
            taker,
            "need",
            _l("Linli: %(need)s was opened again; it is no longer yours."),
            now=now,
            need=_summary(need),
        )
    audit.record("need.reopen", need, actor=actor, source="panel", now=now)
    return need


def rate(need: Need, resident: Person, stars: int, *, comment: str = "", now: datetime) -> Need:
    """The resident rates a solved need 1–5, once; the taker is told."""
    if resident.id != need.resident_id:
        raise NotPermitted(_l("Only the resident may rate it."), field="need")
    if type(stars) is not int or not 1 <= stars <= 5:
        raise InvalidInput(_l("Rate it from 1 to 5 stars."), field="rating")
    comment = one_line(
        comment,
        field="comment",
        max_length=200,
        required=None,
        too_long=_l("The comment is longer than %(max)s characters."),
    )
    if need.status != "confirmed":
        raise BusinessRuleError(_l("A request is rated once it is confirmed."), field="need")
    table = table_of(Need)
    rated = db.session.execute(
        sa.update(table)
        .where(table.c.id == need.id, table.c.rating.is_(None))
        .values(rating=stars, rating_comment=comment)
        .returning(table.c.id)
    ).first()
    if rated is None:
        raise BusinessRuleError(_l("You rated this request already."), field="rating")
    db.session.refresh(need)
    _event(need, "rated", resident, now, "★" * stars)
    if need.taker is not None:
        outbox.tell(
            need.taker,
            "need",
            _l("Linli: the resident rated your help with %(need)s %(stars)s."),
            now=now,
            need=_summary(need),
            stars="★" * stars,
        )
    return need


def close(need: Need, *, actor: Person, reason: str, now: datetime) -> Need:
    """A worker closes it (not ours to do, solved otherwise …) with a reason the resident
    reads; the resident may also withdraw their own while nobody has done it."""
    withdrawing = actor.id == need.resident_id and not staff_may(actor, need)
    if not withdrawing and not staff_may(actor, need):
        raise NotPermitted(_l("Only the community's staff may close it."), field="need")
    reason = one_line(
        reason,
        field="reason",
        max_length=200,
        required=None if withdrawing else _l("Say why: the resident reads it."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    taker = need.taker
    _move(
        need,
        ("open", "taken") if withdrawing else ("open", "taken", "disputed"),
        {"status": "closed", "close_reason": reason, "closed_at": now, "step_due_at": None},
        _l("This request can no longer be closed."),
    )
    _event(need, "withdrawn" if withdrawing else "closed", actor, now, reason)
    if not withdrawing:
        outbox.tell(
            need.resident,
            "need",
            _l("Linli: your request %(need)s was closed. Why: %(reason)s"),
            now=now,
            need=_summary(need),
            reason=reason,
        )
    if taker is not None and taker.id != actor.id:
        outbox.tell(taker, "need", _l("Linli: %(need)s was closed."), now=now, need=_summary(need))
    audit.record("need.close", need, actor=actor, source="panel", now=now, reason=reason)
    return need


def merge(need: Need, into: Need, *, actor: Person, now: datetime) -> Need:
    """A worker merges a duplicate into the need it repeats; its resident is told."""
    if not staff_may(actor, need):
        raise NotPermitted(_l("Only the community's staff may merge it."), field="need")
    if into.id == need.id or into.community_id != need.community_id or into.status == "merged":
        raise NotFound(_l("There is no such request to merge into."), field="into")
    _move(
        need,
        ("open",),
        {"status": "merged", "merged_into_id": into.id, "closed_at": now, "step_due_at": None},
        _l("Only an open request can be merged."),
    )
    _event(need, "merged", actor, now, f"#{into.id}")
    outbox.tell(
        need.resident,
        "need",
        _l("Linli: your request %(need)s is the same as #%(into)s, which is being handled."),
        now=now,
        need=_summary(need),
        into=into.id,
    )
    audit.record("need.merge", need, actor=actor, source="panel", now=now, after={"into": into.id})
    return need


def waiting_confirmation(resident: Person) -> Need | None:
    """The resident's oldest need waiting for their `1` or `2`."""
    return db.session.scalar(
        sa.select(Need)
        .where(Need.resident_id == resident.id, Need.status == "done")
        .order_by(Need.done_at, Need.id)
        .limit(1)
    )


def waiting_rating(resident: Person) -> Need | None:
    return db.session.scalar(
        sa.select(Need)
        .where(Need.resident_id == resident.id, Need.status == "confirmed", Need.rating.is_(None))
        .order_by(Need.confirmed_at.desc(), Need.id.desc())
        .limit(1)
    )


# --- ratings and the public board ----------------------------------------------------------


@dataclass(frozen=True)
class Ratings:
    count: int
    average: float | None
    solved: int


def ratings_of(person: Person) -> Ratings:
    """What a volunteer's solved requests were rated: how many, the mean, how many solved."""
    solved, rated, total = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(Need.rating),
            sa.func.coalesce(sa.func.sum(Need.rating), 0),
        ).where(Need.taker_id == person.id, Need.status == "confirmed")
    ).one()
    return Ratings(rated, round(int(total or 0) / rated, 1) if rated else None, solved)


@dataclass(frozen=True)
class Helper:
    person: Person
    rated: int
    average: float
    solved: int
    leader: bool  # holds a 三长 role: a candidate for 最美三长


def best_rated(community_ids: set[int] | None, month: str, *, limit: int = 20) -> list[Helper]:
    """The month's helpers by their residents' ratings (mean, then how many): what staff
    read when they choose 活力小哥, 星级老哥 or 最美三长. `month` is 'YYYY-MM' in the street's
    zone, counted by when requests were confirmed."""
    start = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=clock.zone_for(None))
    end = (start + timedelta(days=32)).replace(day=1)
    rated = sa.func.count(Need.rating)
    average = sa.func.avg(Need.rating)
    query = (
        sa.select(Need.taker_id, rated, average, sa.func.count())
        .where(
            Need.status == "confirmed",
            Need.taker_id.is_not(None),
            Need.confirmed_at >= start,
            Need.confirmed_at < end,
        )
        .group_by(Need.taker_id)
        .having(rated > 0)
        .order_by(average.desc(), rated.desc(), Need.taker_id)
        .limit(limit)
    )
    if community_ids is not None:
        query = query.where(Need.community_id.in_(community_ids))
    rows = db.session.execute(query).all()
    ids = [row[0] for row in rows]
    found = {p.id: p for p in db.session.scalars(sa.select(Person).where(Person.id.in_(ids)))}
    leaders = set(
        db.session.scalars(sa.select(LeaderRole.person_id).where(LeaderRole.person_id.in_(ids)))
    )
    return [
        Helper(found[pid], int(n), round(float(avg), 1), int(solved), pid in leaders)
        for pid, n, avg, solved in rows
        if pid in found
    ]


@dataclass(frozen=True)
class GridLine:
    grid: OrgUnit | None
    raised: int
    solved: int
    open: int
    median_hours: float | None
    average_rating: float | None


def board(community: OrgUnit, month: str) -> list[GridLine]:
    """The month's 公示 of needs, per grid: raised, solved, still open, median hours from
    raised to confirmed, the mean rating. `month` is 'YYYY-MM' in the community's zone."""
    zone = clock.zone_for(community)
    start = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=zone)
    end = (start + timedelta(days=32)).replace(day=1)
    rows = db.session.execute(
        sa.select(Need.grid_id, Need.status, Need.created_at, Need.confirmed_at, Need.rating).where(
            Need.community_id == community.id,
            Need.status != "merged",
            Need.created_at >= start,
            Need.created_at < end,
        )
    ).all()
    grids = {
        node.id: node
        for node in db.session.scalars(
            sa.select(OrgUnit).where(OrgUnit.community_id == community.id, OrgUnit.kind == "grid")
        )
    }
    by_grid: dict[int | None, list] = {}
    for row in rows:
        by_grid.setdefault(row.grid_id, []).append(row)
    lines = []
    for grid_id, found in sorted(by_grid.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        hours = [
            (r.confirmed_at - r.created_at).total_seconds() / 3600
            for r in found
            if r.status == "confirmed" and r.confirmed_at is not None
        ]
        ratings = [r.rating for r in found if r.rating is not None]
        lines.append(
            GridLine(
                grid=grids.get(grid_id) if grid_id is not None else None,
                raised=len(found),
                solved=len(hours),
                open=sum(1 for r in found if r.status in ACTIVE),
                median_hours=round(statistics.median(hours), 1) if hours else None,
                average_rating=round(sum(ratings) / len(ratings), 1) if ratings else None,
            )
        )
    return lines


def month_lines(community: OrgUnit, month: str) -> list[dict]:
    """The month's board as the statement freezes it (plain values)."""
    return [
        {
            "grid": line.grid.name if line.grid is not None else "",
            "raised": line.raised,
            "solved": line.solved,
            "open": line.open,
            "median_hours": line.median_hours,
            "average_rating": line.average_rating,
        }
        for line in board(community, month)
    ]


def public_list(community: OrgUnit, *, grid_id: int | None = None, limit: int = 50) -> list[Need]:
    """Open and recently solved needs for the public board (the page masks names and shows
    no words the resident wrote: they may hold an address)."""
    query = (
        sa.select(Need)
        .where(Need.community_id == community.id, Need.status.in_((*ACTIVE, "confirmed")))
        .options(
            selectinload(Need.kind),
            selectinload(Need.grid),
            selectinload(Need.resident),
            selectinload(Need.taker),
        )
        .order_by(Need.status == "confirmed", Need.created_at.desc(), Need.id.desc())
        .limit(limit)
    )
    if grid_id is not None:
        query = query.where(Need.grid_id == grid_id)
    return list(db.session.scalars(query))


def period_month(now: datetime, community: OrgUnit | None) -> str:
    """This month ('YYYY-MM') in the community's zone: the board's month."""
    return clock.local(now, community).strftime("%Y-%m")
