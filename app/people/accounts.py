"""Accounts that sign in with a password: staff, street administrators, shop operators.

Nobody sets another person's password. A new account, or a reset, gets a one-time link
sent to the person's own phone (`send_password_link`); only a keyed hash of its token is
kept, a newer link ends the older ones, and it works once within LINK_TTL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash

from app.channels import outbox
from app.core import audit
from app.core.database import rows_changed
from app.core.errors import (
    BusinessRuleError,
    CodeExpired,
    InvalidCode,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from app.core.extensions import db
from app.core.paging import Page, paginate
from app.core.text import one_line
from app.models import OrgUnit, PasswordLink, Person, PersonRole, StaffCommunity
from app.people import people

LINK_TTL = timedelta(hours=72)


def _digest(token: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"password-link:{token}".encode(), hashlib.sha256).hexdigest()


def _end_links(person: Person, now: datetime) -> None:
    """Every unused link of the person stops working now."""
    db.session.execute(
        sa.update(PasswordLink)
        .where(PasswordLink.person_id == person.id, PasswordLink.used_at.is_(None))
        .values(expires_at=now)
    )


def send_password_link(
    person: Person, *, actor: Person | None, now: datetime, link_url: Callable[[str], str]
) -> PasswordLink:
    """A new one-time link for the person to set their password, queued to their phone.
    Older unused links stop working. `link_url` makes the address from the token."""
    if not person.is_active_account:
        raise BusinessRuleError(
            _l("%(name)s's account is switched off; switch it on first."),
            field="person",
            name=person.name,
        )
    _end_links(person, now)
    token = secrets.token_urlsafe(32)
    link = PasswordLink(
        person_id=person.id,
        token_hash=_digest(token),
        created_by_id=actor.id if actor else None,
        created_at=now,
        expires_at=now + LINK_TTL,
    )
    db.session.add(link)
    db.session.flush()
    with force_locale(person.locale):
        body = _(
            "Linli: set your password here (the link works once, for %(hours)s hours): %(url)s",
            hours=int(LINK_TTL.total_seconds() // 3600),
            url=link_url(token),
        )
    if outbox.queue(person=person, kind="password_link", body=body, now=now) is None:
        # The only way the link reaches them is gone: say so, and keep nothing of it.
        raise BusinessRuleError(
            _l(
                "No link can be sent to %(phone)s: that number texted STOP. Ask them to text "
                "START (订阅) to the Linli number first."
            ),
            field="phone",
            phone=person.phone,
        )
    audit.record(
        "account.password_link",
        person,
        actor=actor,
        source="panel",
        now=now,
        after={"expires_at": link.expires_at.isoformat()},
    )
    return link


_DEAD_LINK = _l("This link has been used or has expired. Ask the street office for a new one.")


def read_link(token: str, *, now: datetime) -> PasswordLink:
    """The live link for this token; a used, replaced, expired or made-up one is refused."""
    if not token or len(token) > 100:
        raise InvalidCode(_DEAD_LINK, field="token")
    link = db.session.scalar(
        sa.select(PasswordLink).where(PasswordLink.token_hash == _digest(token))
    )
    if link is None:
        raise InvalidCode(_DEAD_LINK, field="token")
    if link.used_at is not None or now >= link.expires_at or not link.person.is_active_account:
        raise CodeExpired(_DEAD_LINK, field="token")
    return link


def _check_new_password(password: str, confirm: str) -> None:
    if password != confirm:
        raise InvalidInput(_l("The two passwords are not the same."), field="confirm")


def use_link(token: str, password: str, confirm: str, *, now: datetime) -> Person:
    """Set the password through a link: once (two tabs at once: one wins)."""
    link = read_link(token, now=now)
    _check_new_password(password, confirm)
    people.set_password(link.person, password)
    used = rows_changed(
        sa.update(PasswordLink)
        .where(PasswordLink.id == link.id, PasswordLink.used_at.is_(None))
        .values(used_at=now)
    )
    if not used:
        raise CodeExpired(_DEAD_LINK, field="token")
    audit.record("account.password_set", link.person, actor=link.person, source="web", now=now)
    return link.person


def change_password(
    person: Person, current: str, password: str, confirm: str, *, now: datetime
) -> None:
    """A signed-in person changes their own password (the current one is asked for)."""
    if not person.password_hash or not check_password_hash(person.password_hash, current or ""):
        raise InvalidInput(_l("The current password is wrong."), field="current")
    _check_new_password(password, confirm)
    people.set_password(person, password)
    audit.record("account.password_change", person, actor=person, source="web", now=now)


# --- staff --------------------------------------------------------------------------------


def _ensure_admin(actor: Person) -> None:
    if not actor.has_role("admin"):
        raise NotPermitted(
            _l("Only the street administrator can manage staff accounts."), field="person"
        )


def _set_communities(person: Person, communities: Iterable[OrgUnit]) -> list[int]:
    wanted = {c.id for c in communities}
    for held in list(person.staff_communities):
        if held.community_id not in wanted:
            person.staff_communities.remove(held)
    have = {held.community_id for held in person.staff_communities}
    for cid in sorted(wanted - have):
        person.staff_communities.append(StaffCommunity(person_id=person.id, community_id=cid))
    db.session.flush()
    return sorted(wanted)


def _staff_snapshot(person: Person) -> dict:
    return {
        "roles": sorted(r.role for r in person.roles if r.role in ("staff", "admin")),
        "communities": sorted(held.community_id for held in person.staff_communities),
        "active": person.is_active_account,
    }


def create_staff(
    *,
    name: str,
    phone: str,
    communities: list[OrgUnit],
    admin: bool,
    actor: Person,
    now: datetime,
    link_url: Callable[[str], str],
) -> Person:
    """A social worker for these communities, or (admin) another street administrator. An
    existing person (by phone) gains the role; one without a password gets a set-password
    link on their phone."""
    _ensure_admin(actor)
    if not admin and not communities:
        raise InvalidInput(_l("A social worker needs at least one community."), field="communities")
    person = people.find_by_phone(phone)
    if person is None:
        person = people.create_person(name=name, phone=phone, now=now, actor=actor, source="panel")
    elif person.has_role("admin") or (person.has_role("staff") and not admin):
        raise BusinessRuleError(
            _l("%(name)s (%(phone)s) already has a staff account."),
            field="phone",
            name=person.name,
            phone=person.phone,
        )
    before = _staff_snapshot(person)
    people.grant_role(person, "admin" if admin else "staff")
    if not admin:
        _set_communities(person, communities)
    db.session.flush()
    audit.record(
        "staff.create",
        person,
        actor=actor,
        source="panel",
        now=now,
        before=before,
        after=_staff_snapshot(person),
    )
    if person.password_hash:
        with force_locale(person.locale):
            body = _("Linli: you now have a staff account. Sign in with your password.")
        outbox.queue(person=person, kind="account_notice", body=body, now=now)
    else:
        send_password_link(person, actor=actor, now=now, link_url=link_url)
    return person


def set_scope(
    person: Person, communities: list[OrgUnit], *, actor: Person, now: datetime
) -> Person:
    """The communities a social worker acts on."""
    _ensure_admin(actor)
    if not person.has_role("staff"):
        raise BusinessRuleError(_l("This person is not a social worker."), field="person")
    if not communities:
        raise InvalidInput(_l("A social worker needs at least one community."), field="communities")
    before = _staff_snapshot(person)
    _set_communities(person, communities)
    after = _staff_snapshot(person)
    if after != before:
        audit.record(
            "staff.scope", person, actor=actor, source="panel", now=now, before=before, after=after
        )
    return person


def make_admin(person: Person, *, actor: Person, now: datetime) -> Person:
    _ensure_admin(actor)
    if person.has_role("admin"):
        return person
    before = _staff_snapshot(person)
    people.grant_role(person, "admin")
    db.session.flush()
    audit.record(
        "staff.make_admin",
        person,
        actor=actor,
        source="panel",
        now=now,
        before=before,
        after=_staff_snapshot(person),
    )
    return person


def set_active(
    person: Person, active: bool, *, actor: Person, reason: str, now: datetime
) -> Person:
    """Switch an account off (every session ends at once) or on again."""
    _ensure_admin(actor)
    if person.id == actor.id:
        raise NotPermitted(_l("You cannot switch off your own account."), field="person")
    reason = one_line(
        reason,
        field="reason",
        max_length=200,
        required=_l("A reason is required."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    if person.is_active_account == active:
        return person
    if not active and person.has_role("admin"):
        others = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(PersonRole)
            .join(Person, Person.id == PersonRole.person_id)
            .where(
                PersonRole.role == "admin",
                Person.is_active_account.is_(True),
                Person.id != person.id,
            )
        )
        if not others:
            raise BusinessRuleError(
                _l("This is the last street administrator; make another one first."),
                field="person",
            )
    person.is_active_account = active
    if not active:
        people.end_sessions(person)
        _end_links(person, now)
    db.session.flush()
    audit.record(
        "staff.activate" if active else "staff.deactivate",
        person,
        actor=actor,
        source="panel",
        now=now,
        before={"active": not active},
        after={"active": active},
        reason=reason,
    )
    return person


def staff_page(text: str, *, community_ids: set[int] | None, page: int | None) -> Page:
    """Staff and administrators; with `community_ids`, only those working there (and the
    administrators, who work everywhere)."""
    has_role = sa.select(PersonRole.person_id).where(PersonRole.role.in_(("staff", "admin")))
    query = sa.select(Person).where(Person.id.in_(has_role))
    if community_ids is not None:
        works_here = sa.select(StaffCommunity.person_id).where(
            StaffCommunity.community_id.in_(community_ids)
        )
        admins = sa.select(PersonRole.person_id).where(PersonRole.role == "admin")
        query = query.where(sa.or_(Person.id.in_(works_here), Person.id.in_(admins)))
    words = (text or "").split()
    for word in words[:5]:
        query = query.where(
            sa.or_(
                Person.name.contains(word, autoescape=True),
                Person.phone.contains(word, autoescape=True),
                Person.login.contains(word, autoescape=True),
            )
        )
    return paginate(query.order_by(Person.is_active_account.desc(), Person.name, Person.id), page)


def staff_member(person_id: int) -> Person:
    person = people.get(person_id)
    if not (person.has_role("staff") or person.has_role("admin")):
        raise NotFound(_l("There is no such staff member."), field="person")
    return person
