"""The audit log service: every change to points or people says who, when, from where, why."""

from __future__ import annotations

from datetime import datetime

from app.extensions import db
from app.models import AuditEvent, Person


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
        ip=ip,
        created_at=now,
    )
    db.session.add(event)
    return event
