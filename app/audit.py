"""The audit log service: every change to points or people says who, when, from where, why."""

from __future__ import annotations

import contextvars
from datetime import datetime

from app.extensions import db
from app.models import AuditEvent, Person

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
) -> AuditEvent:
    """Append one event. `subject` is a model instance (its table and id are recorded)."""
    event = AuditEvent(
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
    )
    db.session.add(event)
    return event
