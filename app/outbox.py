"""Queue messages to people in the transaction that causes them (delivered after commit)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import OutboxMessage, Person


def queue(person: Person, *, kind: str, body: str, now: datetime) -> OutboxMessage:
    """A message to a person by SMS to their phone (chat channels arrive with issue 7)."""
    message = OutboxMessage(
        person_id=person.id,
        channel="sms",
        recipient=person.phone,
        kind=kind,
        body=body,
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )
    db.session.add(message)
    return message


def recent(limit: int = 100) -> list[OutboxMessage]:
    return list(
        db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit))
    )
