"""The resources list (资源清单) and working party members' reports (在职党员报到).

An offer is what a partner unit (共建单位, one of the red partners) or a person gives — a
lawyer's two hours a month, a clinic's free checks, a volunteer's skill — with a monthly
capacity; staff (or the 三长 a need is with) match a need to it: a person's offer gives them
the need, a unit's goes to its operators, who take it through their own account. A post (岗位)
is a service post the community lists; a working party member or any volunteer of the
community claims it, as many as its capacity (one conditional UPDATE: never one too many).

A working party member reports to their residential community once (employer, branch; the
tag 在职党员); their record and the community's report list what they hold and did: posts,
requests solved, verified hours and points earned this year."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.channels import outbox
from app.core import audit, clock
from app.core.database import add_to_counter
from app.core.errors import BusinessRuleError, InvalidInput, NotFound, NotPermitted
from app.core.extensions import db
from app.core.text import one_line
from app.models import (
    Attendance,
    Merchant,
    Need,
    OrgUnit,
    PartyReport,
    Person,
    PersonTag,
    Resource,
    ResourceClaim,
    ResourceUse,
)
from app.models.base import table_of
from app.models.needs import CAPACITY_UNITS, RESOURCE_KINDS
from app.people import people
from app.points import ledger, needs

PARTY_TAG = "在职党员"
MAX_CAPACITY = 10_000

KIND_NAMES = {"offer": _l("Offer"), "post": _l("Service post")}
UNIT_NAMES = {"times": _l("times a month"), "hours": _l("hours a month"), "people": _l("people")}


@dataclass
class ResourceFields:
    kind: str
    title: str
    description: str = ""
    capacity: int | None = None
    capacity_unit: str = "times"
    provider_phone: str = ""
    provider_merchant_id: int | None = None
    active: bool = True


def _clean(fields: ResourceFields, community_id: int | None) -> dict:
    if fields.kind not in RESOURCE_KINDS:
        raise InvalidInput(_l("Choose an offer or a service post."), field="kind")
    if fields.capacity_unit not in CAPACITY_UNITS:
        raise InvalidInput(_l("Choose how the capacity is counted."), field="capacity_unit")
    title = one_line(
        fields.title,
        field="title",
        max_length=100,
        required=_l("A title is required."),
        too_long=_l("The title is longer than %(max)s characters."),
    )
    description = one_line(
        fields.description,
        field="description",
        max_length=500,
        required=None,
        too_long=_l("The description is longer than %(max)s characters."),
    )
    if fields.capacity is not None and (
        type(fields.capacity) is not int or not 1 <= fields.capacity <= MAX_CAPACITY
    ):
        raise InvalidInput(
            _l("The capacity is a number from 1 to %(max)s, or empty."),
            field="capacity",
            max=MAX_CAPACITY,
        )
    person = merchant = None
    if fields.kind == "offer":
        if (fields.provider_phone or "").strip():
            person = people.find_by_phone(fields.provider_phone)
            if person is None or (
                community_id is not None and person.community_id not in (None, community_id)
            ):
                raise NotFound(_l("Nobody here has this phone number."), field="provider_phone")
        elif fields.provider_merchant_id:
            merchant = db.session.get(Merchant, fields.provider_merchant_id)
            if merchant is None or merchant.status == "ended":
                raise NotFound(_l("There is no such partner unit."), field="provider_merchant_id")
        else:
            raise InvalidInput(
                _l("Say who offers it: a person's phone number or a partner unit."),
                field="provider_phone",
            )
    return {
        "kind": fields.kind,
        "title": title,
        "description": description,
        "capacity": fields.capacity,
        "capacity_unit": "people" if fields.kind == "post" else fields.capacity_unit,
        "provider_person_id": person.id if person else None,
        "provider_merchant_id": merchant.id if merchant else None,
        "active": bool(fields.active),
    }


def create(
    community: OrgUnit | None, fields: ResourceFields, *, actor: Person, now: datetime
) -> Resource:
    resource = Resource(
        community_id=community.id if community else None,
        created_by_id=actor.id,
        created_at=now,
        claimed=0,
        **_clean(fields, community.id if community else None),
    )
    db.session.add(resource)
    db.session.flush()
    audit.record("resource.create", resource, actor=actor, source="panel", now=now)
    return resource


def update(resource: Resource, fields: ResourceFields, *, actor: Person, now: datetime) -> Resource:
    values = _clean(fields, resource.community_id)
    if values["kind"] != resource.kind:
        raise InvalidInput(_l("An offer stays an offer and a post a post."), field="kind")
    capacity = values["capacity"]
    if resource.kind == "post" and capacity is not None and capacity < resource.claimed:
        raise BusinessRuleError(
            _l("%(n)s people hold this post: the capacity cannot be less."),
            field="capacity",
            n=resource.claimed,
        )
    for key, value in values.items():
        setattr(resource, key, value)
    db.session.flush()
    audit.record("resource.update", resource, actor=actor, source="panel", now=now, after=values)
    return resource


def listed(
    community_ids: set[int] | None, *, kind: str | None = None, active_only: bool = False
) -> list[Resource]:
    """The street's resources and those of these communities (all, for None)."""
    query = sa.select(Resource).options(
        selectinload(Resource.provider_person), selectinload(Resource.provider_merchant)
    )
    query = query.order_by(Resource.kind, Resource.community_id.is_not(None), Resource.id)
    if community_ids is not None:
        query = query.where(
            sa.or_(Resource.community_id.is_(None), Resource.community_id.in_(community_ids))
        )
    if kind is not None:
        query = query.where(Resource.kind == kind)
    if active_only:
        query = query.where(Resource.active.is_(True))
    return list(db.session.scalars(query))


def get(resource_id: int | None, community_ids: set[int] | None) -> Resource:
    resource = db.session.get(Resource, resource_id) if resource_id else None
    if resource is None or (
        community_ids is not None
        and resource.community_id is not None
        and resource.community_id not in community_ids
    ):
        raise NotFound(_l("There is no such resource."), field="resource")
    return resource


def used_this_month(resource: Resource, now: datetime) -> int:
    period = "M" + clock.local(now, None).strftime("%Y-%m")
    used = db.session.scalar(
        sa.select(ResourceUse.used).filter_by(resource_id=resource.id, period=period)
    )
    return used or 0


# --- posts (岗位认领) ----------------------------------------------------------------------


def holding(person: Person) -> list[ResourceClaim]:
    return list(
        db.session.scalars(
            sa.select(ResourceClaim)
            .where(ResourceClaim.person_id == person.id, ResourceClaim.status == "active")
            .order_by(ResourceClaim.claimed_at)
        )
    )


def claim(resource: Resource, person: Person, *, now: datetime) -> ResourceClaim:
    """A resident of the post's community takes it up: one place of its capacity, taken by
    one conditional UPDATE (two at once for the last place: one gets it)."""
    if resource.kind != "post" or not resource.active:
        raise NotFound(_l("There is no such post."), field="resource")
    if person.community_id is None or resource.community_id not in (None, person.community_id):
        raise NotPermitted(_l("Only residents of its community may take up this post."))
    if any(held.resource_id == resource.id for held in holding(person)):
        raise BusinessRuleError(_l("You hold this post already."), field="resource")
    table = table_of(Resource)
    condition = table.c.capacity.is_(None) | (table.c.claimed < table.c.capacity)
    taken = db.session.execute(
        sa.update(table)
        .where(table.c.id == resource.id, table.c.active.is_(True), condition)
        .values(claimed=table.c.claimed + 1)
        .returning(table.c.id)
    ).first()
    if taken is None:
        raise BusinessRuleError(_l("Every place of this post is taken."), field="resource")
    db.session.refresh(resource)
    held = ResourceClaim(
        resource_id=resource.id, person_id=person.id, status="active", claimed_at=now
    )
    try:
        with db.session.begin_nested():
            db.session.add(held)
            db.session.flush()
    except IntegrityError:  # the same person at the same moment (a double tap)
        raise BusinessRuleError(_l("You hold this post already."), field="resource") from None
    audit.record("resource.claim", resource, actor=person, source="web", now=now)
    return held


def release(held: ResourceClaim, person: Person, *, now: datetime) -> ResourceClaim:
    if held.person_id != person.id:
        raise NotPermitted(_l("Only who holds the post may give it up."))
    table = table_of(ResourceClaim)
    ended = db.session.execute(
        sa.update(table)
        .where(table.c.id == held.id, table.c.status == "active")
        .values(status="ended", ended_at=now)
        .returning(table.c.id)
    ).first()
    if ended is None:
        raise BusinessRuleError(_l("You no longer hold this post."), field="claim")
    resources = table_of(Resource)
    db.session.execute(
        sa.update(resources)
        .where(resources.c.id == held.resource_id)
        .values(claimed=resources.c.claimed - 1)
    )
    db.session.refresh(held)
    return held


# --- matching a need to an offer ------------------------------------------------------------


def partner_units() -> list[Merchant]:
    """The partner units an offer may come from: every red partner not ended."""
    return list(
        db.session.scalars(
            sa.select(Merchant).where(Merchant.status != "ended").order_by(Merchant.name)
        )
    )


def match(need: Need, resource: Resource, *, actor: Person, now: datetime) -> Need:
    """Give an open need to an offer's provider: a person takes it at once (and is told);
    a partner unit's operators are told and one of them takes it. One of the offer's monthly
    capacity is used (counted atomically: never past it)."""
    if not (needs.staff_may(actor, need) or needs.leads_step(actor, need)):
        raise NotPermitted(_l("Only the community's staff or its leader may assign it."))
    if (
        resource.kind != "offer"
        or not resource.active
        or resource.community_id not in (None, need.community_id)
    ):
        raise NotFound(_l("There is no such resource."), field="resource")
    if need.status != "open":
        raise BusinessRuleError(_l("This request was already taken."), field="need")
    period = "M" + clock.local(now, need.community).strftime("%Y-%m")
    if not add_to_counter(
        table_of(ResourceUse),
        {"resource_id": resource.id, "period": period},
        "used",
        1,
        resource.capacity,
    ):
        raise BusinessRuleError(
            _l("This offer's %(n)s for the month are used."), field="resource", n=resource.capacity
        )
    need.resource_id = resource.id
    if resource.provider_person_id is not None:
        provider = db.session.get(Person, resource.provider_person_id)
        assert provider is not None
        needs.assign(need, actor=actor, person=provider, now=now)
    else:
        assert resource.provider_merchant_id is not None
        needs.give_to_unit(need, resource.provider_merchant_id, actor=actor, now=now)
    return need


# --- working party members (在职党员报到) ----------------------------------------------------


def report(
    person: Person,
    *,
    employer: str,
    branch: str = "",
    now: datetime,
    recorded_by: Person | None = None,
) -> PartyReport:
    """The person reports to their residential community (again: their details change, the
    first day stays); they carry the tag 在职党员 from then on."""
    if person.community_id is None:
        raise NotPermitted(_l("Only a resident of a community can report to it."))
    employer = one_line(
        employer,
        field="employer",
        max_length=100,
        required=_l("Say where you work."),
        too_long=_l("The employer is longer than %(max)s characters."),
    )
    branch = one_line(
        branch,
        field="branch",
        max_length=100,
        required=None,
        too_long=_l("The party branch is longer than %(max)s characters."),
    )
    found = db.session.scalar(
        sa.select(PartyReport).filter_by(person_id=person.id, community_id=person.community_id)
    )
    if found is None:
        found = PartyReport(
            person_id=person.id,
            community_id=person.community_id,
            reported_on=clock.local(now, person.community).strftime("%Y-%m-%d"),
            recorded_by_id=(recorded_by or person).id,
            created_at=now,
        )
        db.session.add(found)
    found.employer, found.branch = employer, branch
    if PARTY_TAG not in person.tag_names:
        person.tags.append(PersonTag(tag=PARTY_TAG))
    db.session.flush()
    audit.record(
        "party.report",
        person,
        actor=recorded_by or person,
        source="panel" if recorded_by else "web",
        now=now,
        after={"employer": employer, "branch": branch},
    )
    if recorded_by is not None and recorded_by.id != person.id:
        outbox.tell(
            person,
            "party",
            _l("Linli: you are registered as a working party member of %(community)s."),
            now=now,
            community=person.community.name if person.community else "",
        )
    return found


@dataclass(frozen=True)
class Record:
    person: Person
    report: PartyReport | None
    posts: list[str]
    needs_solved: int
    minutes: int
    points: int


def _year_bounds(now: datetime, community) -> tuple[datetime, datetime, str]:
    local = clock.local(now, community)
    start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1)
    return start, end, f"Y{start.year}"


def records(people_: list[Person], reports: dict[int, PartyReport], now: datetime) -> list[Record]:
    """What each did this year: posts held now, requests solved, verified minutes, points
    earned (a handful of grouped queries for the whole list)."""
    if not people_:
        return []
    ids = [p.id for p in people_]
    start, end, year = _year_bounds(now, people_[0].community)
    posts: dict[int, list[str]] = {}
    for person_id, title in db.session.execute(
        sa.select(ResourceClaim.person_id, Resource.title)
        .join(Resource, Resource.id == ResourceClaim.resource_id)
        .where(ResourceClaim.person_id.in_(ids), ResourceClaim.status == "active")
        .order_by(ResourceClaim.claimed_at)
    ):
        posts.setdefault(person_id, []).append(title)
    solved = dict(
        db.session.execute(
            sa.select(Need.taker_id, sa.func.count())
            .where(
                Need.taker_id.in_(ids),
                Need.status == "confirmed",
                Need.confirmed_at >= start,
                Need.confirmed_at < end,
            )
            .group_by(Need.taker_id)
        ).all()
    )
    minutes = dict(
        db.session.execute(
            sa.select(Attendance.person_id, sa.func.sum(Attendance.minutes))
            .where(
                Attendance.person_id.in_(ids),
                Attendance.status == "approved",
                Attendance.checked_in_at >= start,
                Attendance.checked_in_at < end,
            )
            .group_by(Attendance.person_id)
        ).all()
    )
    points = ledger.period_totals_of(ids, year)
    return [
        Record(
            person=p,
            report=reports.get(p.id),
            posts=posts.get(p.id, []),
            needs_solved=int(solved.get(p.id, 0)),
            minutes=int(minutes.get(p.id) or 0),
            points=points.get(p.id, 0),
        )
        for p in people_
    ]


def record_of(person: Person, now: datetime) -> Record:
    found = db.session.scalar(sa.select(PartyReport).filter_by(person_id=person.id))
    return records([person], {person.id: found} if found else {}, now)[0]


def reported(community_ids: set[int] | None, now: datetime) -> list[Record]:
    """The community's report: who reported (newest first) and what each did this year."""
    query = (
        sa.select(PartyReport)
        .join(Person, Person.id == PartyReport.person_id)
        .order_by(PartyReport.reported_on.desc(), PartyReport.id.desc())
    )
    if community_ids is not None:
        query = query.where(PartyReport.community_id.in_(community_ids))
    found = list(db.session.scalars(query))
    return records([r.person for r in found], {r.person_id: r for r in found}, now)
