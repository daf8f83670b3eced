"""The audit log service: every change to points or people says who, when, from where, why."""

from __future__ import annotations

import contextvars
from datetime import datetime

import sqlalchemy as sa

from app.core.extensions import db
from app.models import AuditEvent, Person
from app.models.base import table_of

# The address of the client whose request is being handled, set by the web edge for the
# length of a request, so services record it without knowing about requests.
_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "linli_client_ip", default=None
)


def bind_client_ip(ip: str | None) -> contextvars.Token:
    return _client_ip.set(ip)


def unbind_client_ip(token: contextvars.Token) -> None:
    _client_ip.reset(token)


def record(
    action: str,
    subject,
    *,
    actor: Person | None,
    source: str,
    now: datetime,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    ip: str | None = None,
) -> None:
    """Append one event. `subject` is a model instance (its table and id are recorded).

    Written at once by a Core INSERT, not added to the session for its next flush: nothing
    reads an event back in the request that writes it, and a flush costs three times the
    insert (bench/profile_redemption.py; every sale writes one)."""
    db.session.execute(
        _INSERT,
        dict(
            actor_id=actor.id if actor else None,
            source=source,
            action=action,
            subject_type=subject.__tablename__,
            subject_id=subject.id,
            before=before,
            after=after,
            reason=(reason or "")[:500],
            ip=ip or _client_ip.get(),
            created_at=now,
        ),
    )


_INSERT = sa.insert(table_of(AuditEvent))


def search(
    *,
    community_ids: set[int] | None,
    action: str = "",
    actor_text: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Events newest first, paged by id (`before_id`), never by offset.

    A social worker sees what the staff of their communities did; an administrator
    (community_ids None) sees everything.
    """
    from app.models import StaffCommunity

    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if community_ids is not None:
        colleagues = sa.select(StaffCommunity.person_id).where(
            StaffCommunity.community_id.in_(community_ids)
        )
        query = query.where(AuditEvent.actor_id.in_(colleagues))
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if actor_text:
        names = sa.select(Person.id).where(
            sa.or_(
                Person.name.contains(actor_text, autoescape=True),
                Person.login == actor_text,
            )
        )
        query = query.where(AuditEvent.actor_id.in_(names))
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(db.session.scalars(query))


ACTION_GROUPS = (
    "points",
    "person",
    "activity",
    "attendance",
    "deed_rule",
    "adjustment",
    "offer",
    "merchant",
    "redemption",
    "need",
)
