"""Services for people: residents, staff and merchant operators, tags and roles."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.core import audit, metrics, strikes
from app.core.errors import BusinessRuleError, DuplicatePhone, InvalidInput, NotFound
from app.core.extensions import db
from app.core.phones import normalize_phone
from app.core.text import one_line
from app.models import (
    LeaderRole,
    MerchantOperator,
    OrgUnit,
    Person,
    PersonRole,
    PersonTag,
    StaffCommunity,
)
from app.models.people import LEADER_ROLES, USER_ROLES
from app.points import ledger

MAX_NAME = 50
MAX_TAG = 30
MIN_PASSWORD = 8
# National volunteer star rating: cumulative verified service hours for 1★ … 5★.
STAR_HOURS = (100, 300, 600, 1000, 1500)


@functools.cache
def _dummy_hash() -> str:
    """Checked against when a password login names an unknown account, so that the time
    taken does not tell which logins exist. Made on first use: hashing costs ~0.1 s, which
    every worker would otherwise pay at start (issue 17: respawned workers)."""
    return generate_password_hash("linli-no-such-user")


def clean_name(name: str | None, field: str = "name") -> str:
    return one_line(
        name,
        field=field,
        max_length=MAX_NAME,
        required=_l("A name is required."),
        too_long=_l("The name is longer than %(max)s characters."),
    )


def clean_tags(tags) -> list[str]:
    result: list[str] = []
    for tag in tags or ():
        tag = tag.strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise InvalidInput(
                _l("The tag “%(tag)s” is longer than %(max)s characters."),
                field="tags",
                tag=tag,
                max=MAX_TAG,
            )
        if tag not in result:
            result.append(tag)
    return result


def get(person_id: int) -> Person:
    person = db.session.get(Person, person_id)
    if person is None:
        raise NotFound(_l("There is no such person."), field="person")
    return person


def find_by_phone(raw_phone: str) -> Person | None:
    return db.session.scalar(sa.select(Person).filter_by(phone=normalize_phone(raw_phone)))


def get_by_phone(raw_phone: str) -> Person:
    person = find_by_phone(raw_phone)
    if person is None:
        raise NotFound(_l("Nobody is registered with this phone number."), field="phone")
    return person


def find_by_login(login_or_phone: str) -> Person | None:
    """A login name, or failing that a phone number in any of the forms people type."""
    text = (login_or_phone or "").strip()
    if not text:
        return None
    person = db.session.scalar(sa.select(Person).filter_by(login=text))
    if person is not None:
        return person
    try:
        return find_by_phone(text)
    except InvalidInput:
        return None


# Wrong passwords for one account, from any address (a botnet tries one account from many):
# after 5 in an hour the account waits 1 minute, doubling with each further one up to 15
# minutes — slow for a guesser, never long for the worker whose account is tried.
ACCOUNT_WRONG_PASSWORDS = strikes.Limit(
    "password:account",
    5,
    timedelta(hours=1),
    pause=timedelta(minutes=1),
    backoff=True,
    max_pause=timedelta(minutes=15),
)


def authenticate(login_or_phone: str, password: str, *, now: datetime) -> Person | None:
    """The person these credentials belong to, or None (one answer for every failure).

    A wrong password counts against the account (kept: the caller commits); while the
    account is paused even the right one is refused, with TooManyAttempts.
    """
    person = find_by_login(login_or_phone)
    if person is None or not person.password_hash:
        check_password_hash(_dummy_hash(), password or "")
        return None
    guard = [(ACCOUNT_WRONG_PASSWORDS, person.id)]
    strikes.ensure_open(
        guard,
        now,
        field="password",
        message=_l("Too many wrong passwords for this account. Try again in %(minutes)s minutes."),
    )
    if not check_password_hash(person.password_hash, password or ""):
        metrics.SIGNIN_FAILURES.labels("password").inc()
        strikes.record(guard, now)
        return None
    return person if person.is_active else None


def set_password(person: Person, password: str) -> None:
    if not password or len(password) < MIN_PASSWORD:
        raise InvalidInput(
            _l("The password must have at least %(min)s characters."),
            field="password",
            min=MIN_PASSWORD,
        )
    person.password_hash = generate_password_hash(password)
    end_sessions(person)


def end_sessions(person: Person) -> None:
    """Every session cookie and remember-me token of the person stops working (sign-out,
    a new password, deactivation): they carry the session version this raises."""
    person.session_version = (person.session_version or 0) + 1


def create_person(
    *,
    name: str,
    phone: str,
    now: datetime,
    actor: Person | None,
    source: str,
    community: OrgUnit | None = None,
    org_unit: OrgUnit | None = None,
    tags=(),
    locale: str = "zh",
) -> Person:
    """Register a person; a resident (with a community) gets a points wallet."""
    phone = normalize_phone(phone)
    place = org_unit or community
    person = Person(
        name=clean_name(name),
        phone=phone,
        community_id=community.id if community else None,
        org_unit_id=place.id if place else None,
        locale=locale if locale in ("zh", "en") else "zh",
        created_at=now,
        updated_at=now,
    )
    person.tags = [PersonTag(tag=tag) for tag in clean_tags(tags)]
    if db.session.scalar(sa.select(Person.id).filter_by(phone=phone)) is not None:
        raise DuplicatePhone(field="phone")
    try:
        with db.session.begin_nested():
            db.session.add(person)
            db.session.flush()
    except IntegrityError:  # registered by a concurrent request since the check above
        raise DuplicatePhone(field="phone") from None
    if community is not None:
        ledger.wallet_for(person)
    audit.record(
        "person.create", person, actor=actor, source=source, now=now, after=snapshot(person)
    )
    return person


def update_person(
    person: Person,
    *,
    now: datetime,
    actor: Person | None,
    source: str,
    name: str | None = None,
    community: OrgUnit | None = None,
    org_unit: OrgUnit | None = None,
    tags=None,
) -> bool:
    """Change a person's name, community, place or tags; returns whether anything changed.

    Moving to another community moves the wallet with the person; the points stay theirs.
    """
    before = snapshot(person)
    if name is not None:
        person.name = clean_name(name)
    if community is not None and person.community_id != community.id:
        person.community_id = community.id
        person.org_unit_id = community.id
        ledger.move_wallet(person, community)
    if org_unit is not None:
        person.org_unit_id = org_unit.id
    if tags is not None:
        wanted = clean_tags(tags)
        person.tags = [t for t in person.tags if t.tag in wanted] + [
            PersonTag(tag=tag) for tag in wanted if tag not in person.tag_names
        ]
    after = snapshot(person)
    if after == before:
        return False
    person.updated_at = now
    db.session.flush()
    audit.record(
        "person.update", person, actor=actor, source=source, now=now, before=before, after=after
    )
    return True


def snapshot(person: Person) -> dict:
    """What the audit log records of a person."""
    return {
        "name": person.name,
        "phone": person.phone,
        "community_id": person.community_id,
        "org_unit_id": person.org_unit_id,
        "tags": sorted(person.tag_names),
    }


def grant_role(person: Person, role: str) -> None:
    if role not in USER_ROLES:
        raise InvalidInput(_l("Unknown role: %(role)s"), field="role", role=role)
    if not person.has_role(role):
        person.roles.append(PersonRole(role=role))
        db.session.flush()


def add_staff_community(person: Person, community: OrgUnit) -> None:
    if db.session.get(StaffCommunity, (person.id, community.id)) is None:
        db.session.add(StaffCommunity(person_id=person.id, community_id=community.id))
        db.session.flush()


def staff_of(community_id: int | None, *, besides: int | None = None) -> list[Person]:
    """The social workers of a community (all but `besides`), for notices to its staff."""
    where = [StaffCommunity.community_id == community_id, PersonRole.role == "staff"]
    if besides is not None:
        where.append(Person.id != besides)
    return list(
        db.session.scalars(
            sa.select(Person)
            .join(StaffCommunity, StaffCommunity.person_id == Person.id)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(*where)
            .distinct()
            .order_by(Person.id)
        )
    )


def make_leader(person: Person, node: OrgUnit, role: str) -> LeaderRole:
    """Give a person a 三长 role on a grid, building or unit."""
    if LEADER_ROLES.get(role) != node.kind:
        raise InvalidInput(
            _l("A %(role)s is held on a %(kind)s."),
            field="role",
            role=role,
            kind=LEADER_ROLES.get(role, "?"),
        )
    existing = db.session.scalar(
        sa.select(LeaderRole).filter_by(person_id=person.id, org_unit_id=node.id, role=role)
    )
    if existing:
        return existing
    held = LeaderRole(person_id=person.id, org_unit_id=node.id, role=role)
    db.session.add(held)
    db.session.flush()
    return held


def appoint_leader(person: Person, node: OrgUnit, role: str, *, actor: Person, now: datetime):
    """Staff give a 三长 role (audited)."""
    held = make_leader(person, node, role)
    audit.record(
        "person.leader_add",
        person,
        actor=actor,
        source="panel",
        now=now,
        after={"org_unit_id": node.id, "role": role},
    )
    return held


def remove_leader(held: LeaderRole, *, actor: Person, now: datetime) -> None:
    person = held.person
    before = {"org_unit_id": held.org_unit_id, "role": held.role}
    db.session.delete(held)
    db.session.flush()
    audit.record(
        "person.leader_remove", person, actor=actor, source="panel", now=now, before=before
    )


def leaders_in(node: OrgUnit) -> list[LeaderRole]:
    """三长 roles held on this node and everything below it."""
    from app.people import org

    return list(
        db.session.scalars(
            sa.select(LeaderRole)
            .where(org.subtree_filter(LeaderRole.org_unit_id, node))
            .order_by(LeaderRole.org_unit_id, LeaderRole.role)
        )
    )


def create_user(
    *,
    kind: str,
    name: str,
    phone: str,
    password: str,
    now: datetime,
    actor: Person | None,
    source: str,
    login: str | None = None,
    communities=(),
    merchant=None,
    reset_password: bool = False,
) -> Person:
    """A staff member, a street administrator or a merchant operator who signs in by password.

    An existing person (by phone) gains the role instead of being registered twice. One who
    already signs in with a password keeps it: nothing changes unless `reset_password`.
    """
    if kind not in USER_ROLES:
        raise InvalidInput(_l("Unknown role: %(role)s"), field="role", role=kind)
    if kind == "staff" and not communities:
        raise InvalidInput(_l("A social worker needs at least one community."), field="community")
    if kind == "merchant" and merchant is None:
        raise InvalidInput(_l("A merchant operator needs a merchant."), field="merchant")
    login = (login or "").strip() or None
    owner = db.session.scalar(sa.select(Person).filter_by(login=login)) if login else None
    if owner is not None and owner.phone != normalize_phone(phone):
        raise InvalidInput(_l("The login “%(login)s” is taken."), field="login", login=login)
    person = find_by_phone(phone)
    if person is not None and person.password_hash and not reset_password:
        raise BusinessRuleError(
            _l(
                "%(name)s (%(phone)s) already has an account with a password; nothing was "
                "changed. To set a new password, say so (--reset-password)."
            ),
            field="phone",
            name=person.name,
            phone=person.phone,
        )
    if person is None:
        person = create_person(name=name, phone=phone, now=now, actor=actor, source=source)
    set_password(person, password)
    if login:
        person.login = login
    grant_role(person, kind)
    for community in communities:
        add_staff_community(person, community)
    if merchant is not None and db.session.get(MerchantOperator, (merchant.id, person.id)) is None:
        db.session.add(MerchantOperator(merchant_id=merchant.id, person_id=person.id))
    db.session.flush()
    audit.record(
        "user.grant_role",
        person,
        actor=actor,
        source=source,
        now=now,
        after={"role": kind, "communities": [c.id for c in communities]},
    )
    return person


def search(text: str, community_ids: set[int] | None, limit: int = 20) -> list[Person]:
    """People whose name contains `text` or whose phone contains its digits."""
    text = " ".join((text or "").split())
    if not text:
        return []
    digits = "".join(ch for ch in text if ch.isdigit())
    pattern = "%" + text.replace("\\", "").replace("%", "").replace("_", "") + "%"
    match = [Person.name.like(pattern)]
    if len(digits) >= 4:
        match.append(Person.phone.like(f"%{digits}%"))
    query = sa.select(Person).where(sa.or_(*match), Person.community_id.is_not(None))
    if community_ids is not None:
        query = query.where(Person.community_id.in_(community_ids))
    return list(db.session.scalars(query.order_by(Person.name, Person.id).limit(limit)))


def residents(
    community_ids: set[int] | None,
    *,
    text: str = "",
    node: OrgUnit | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[Person]:
    """Residents by name or phone, optionally in one place of the tree (a building, a
    household), in id order, paged by id (never by offset)."""
    from app.people import org

    query = sa.select(Person).where(Person.community_id.is_not(None)).order_by(Person.id)
    if community_ids is not None:
        query = query.where(Person.community_id.in_(community_ids))
    text = " ".join((text or "").split())
    if text:
        digits = "".join(ch for ch in text if ch.isdigit())
        match = [Person.name.contains(text, autoescape=True)]
        if len(digits) >= 4:
            match.append(Person.phone.contains(digits, autoescape=True))
        query = query.where(sa.or_(*match))
    if node is not None:
        query = query.where(org.subtree_filter(Person.org_unit_id, node))
    if after_id is not None:
        query = query.where(Person.id > after_id)
    return list(db.session.scalars(query.limit(limit)))


@dataclass(frozen=True)
class Profile:
    person: Person
    place: list[OrgUnit]
    leader_roles: list[LeaderRole]
    teams: list[tuple[str, bool]]  # team name, is leader


def profile(person: Person) -> Profile:
    """Where a resident lives, the 三长 roles they hold and the teams they are in."""
    from app.models import Team, TeamMember
    from app.people import org

    place = org.ancestors(person.org_unit) if person.org_unit is not None else []
    roles = list(db.session.scalars(sa.select(LeaderRole).filter_by(person_id=person.id)))
    teams = [
        (name, leader)
        for name, leader in db.session.execute(
            sa.select(Team.name, TeamMember.is_leader)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.person_id == person.id)
            .order_by(Team.name)
        )
    ]
    return Profile(person, place, roles, teams)


def set_preferences(
    person: Person,
    *,
    hide_from_boards: bool,
    locale: str,
    now: datetime,
    broadcasts_off: bool | None = None,
    notifications_off: bool | None = None,
) -> None:
    """A resident's own choices: shown on public boards or not, their language, and the
    messages they get (group messages; any notice at all). None: unchanged."""
    if locale not in ("zh", "en"):
        raise InvalidInput(_l("Choose 中文 or English."), field="locale")
    fields = ("hide_from_boards", "locale", "broadcasts_off", "notifications_off")
    before = {name: getattr(person, name) for name in fields}
    ledger.show_on_boards(person, not hide_from_boards)
    person.hide_from_boards = hide_from_boards
    person.locale = locale
    if broadcasts_off is not None:
        person.broadcasts_off = broadcasts_off
    if notifications_off is not None:
        person.notifications_off = notifications_off
    after = {name: getattr(person, name) for name in fields}
    if after != before:
        person.updated_at = now
        db.session.flush()
        audit.record(
            "person.preferences",
            person,
            actor=person,
            source="web",
            now=now,
            before=before,
            after=after,
        )


def visible_community_ids(person: Person) -> set[int] | None:
    """Communities a staff member acts on; None means all (a street administrator)."""
    if person.has_role("admin"):
        return None
    return {sc.community_id for sc in person.staff_communities}


@dataclass(frozen=True)
class StarLevel:
    stars: int
    next_hours: int | None  # hours needed for the next level, None at 5★
    progress: float  # 0..1 towards the next level


def star_level(verified_minutes: int) -> StarLevel:
    hours = verified_minutes / 60
    stars = sum(1 for threshold in STAR_HOURS if hours >= threshold)
    if stars == len(STAR_HOURS):
        return StarLevel(stars, None, 1.0)
    low = STAR_HOURS[stars - 1] if stars else 0
    high = STAR_HOURS[stars]
    return StarLevel(stars, high, (hours - low) / (high - low))


@dataclass(frozen=True)
class Summary:
    balance: int
    earned_this_month: int
    verified_minutes: int
    star: StarLevel


def summary(person: Person, now: datetime) -> Summary:
    """What a volunteer sees first: balance, earned this month, hours, star level."""
    wallet = ledger.find_wallet(person)
    balance = ledger.balance(wallet) if wallet else 0
    earned = ledger.earned_this_month(wallet, now) if wallet else 0
    return Summary(balance, earned, person.verified_minutes, star_level(person.verified_minutes))
