"""Service teams (服务队): members, a leader, listed duties (职责清单). Every change is audited."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core import audit
from app.core.errors import DuplicateName, InvalidInput, NotFound
from app.core.extensions import db
from app.core.text import one_line
from app.models import OrgUnit, Person, Team, TeamMember
from app.people import org

MAX_DUTIES = 2000


def _name(name: str) -> str:
    return one_line(
        name,
        field="name",
        max_length=100,
        required=_l("A name is required."),
        too_long=_l("The name is longer than %(max)s characters."),
    )


def _duties(duties: str) -> str:
    duties = (duties or "").strip()
    if len(duties) > MAX_DUTIES:
        raise InvalidInput(
            _l("The duties are longer than %(max)s characters."), field="duties", max=MAX_DUTIES
        )
    return duties


def _taken(community: OrgUnit, name: str, team_id: int | None) -> bool:
    query = sa.select(Team.id).where(Team.community_id == community.id, Team.name == name)
    found = db.session.scalar(query)
    return found is not None and found != team_id


def create_team(
    community: OrgUnit, *, name: str, duties: str, actor: Person, now: datetime
) -> Team:
    name = _name(name)
    if _taken(community, name, None):
        raise DuplicateName(field="name", name=name)
    team = Team(community_id=community.id, name=name, duties=_duties(duties), created_at=now)
    db.session.add(team)
    db.session.flush()
    audit.record("team.create", team, actor=actor, source="panel", now=now, after={"name": name})
    return team


def update_team(team: Team, *, name: str, duties: str, actor: Person, now: datetime) -> Team:
    community = org.community_by_id(team.community_id)
    name = _name(name)
    if _taken(community, name, team.id):
        raise DuplicateName(field="name", name=name)
    before = {"name": team.name, "duties": team.duties}
    team.name, team.duties = name, _duties(duties)
    after = {"name": team.name, "duties": team.duties}
    if after != before:
        db.session.flush()
        audit.record(
            "team.update", team, actor=actor, source="panel", now=now, before=before, after=after
        )
    return team


def add_member(team: Team, person: Person, *, actor: Person, now: datetime) -> TeamMember:
    if person.community_id is None:
        raise InvalidInput(_l("Only residents can join a team."), field="person")
    member = db.session.get(TeamMember, (team.id, person.id))
    if member is None:
        member = TeamMember(team_id=team.id, person_id=person.id, is_leader=False)
        db.session.add(member)
        db.session.flush()
        audit.record(
            "team.member_add",
            team,
            actor=actor,
            source="panel",
            now=now,
            after={"person_id": person.id},
        )
    return member


def remove_member(team: Team, person: Person, *, actor: Person, now: datetime) -> None:
    member = db.session.get(TeamMember, (team.id, person.id))
    if member is None:
        raise NotFound(_l("This person is not in the team."), field="person")
    db.session.delete(member)
    db.session.flush()
    audit.record(
        "team.member_remove",
        team,
        actor=actor,
        source="panel",
        now=now,
        before={"person_id": person.id},
    )


def set_leader(team: Team, person: Person, *, actor: Person, now: datetime) -> None:
    """One leader per team: the given member leads, any other stops leading."""
    member = db.session.get(TeamMember, (team.id, person.id))
    if member is None:
        raise NotFound(_l("This person is not in the team."), field="person")
    db.session.execute(
        sa.update(TeamMember)
        .where(TeamMember.team_id == team.id)
        .values(is_leader=TeamMember.person_id == person.id)
        .execution_options(synchronize_session="fetch")
    )
    audit.record(
        "team.leader", team, actor=actor, source="panel", now=now, after={"person_id": person.id}
    )


def members(team: Team) -> list[tuple[Person, bool]]:
    return [
        (person, leader)
        for person, leader in db.session.execute(
            sa.select(Person, TeamMember.is_leader)
            .join(TeamMember, TeamMember.person_id == Person.id)
            .where(TeamMember.team_id == team.id)
            .order_by(TeamMember.is_leader.desc(), Person.name)
        )
    ]
