"""Messages to people (SMS codes, notifications), written in the transaction that causes them.

A worker delivers them after commit; in demo mode they are shown on the dev outbox page.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime, utc_default
from app.models.people import Person


class OutboxMessage(Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'shown')", name="status"),
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        # The purge's question: what is older than the retention.
        Index("ix_outbox_messages_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(30))
    body: Mapped[str] = mapped_column(Text)
    # pending: to send; sent: delivered; failed: gave up; shown: demo mode, never sent.
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The gateway's answer to the last failed attempt, for whoever looks into it.
    last_error: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # The gateway's own id of the message once sent (Twilio's sid, Telegram's message_id):
    # what its support asks for when a resident says a message never came.
    provider_id: Mapped[str | None] = mapped_column(String(100))

    person: Mapped[Person | None] = relationship()


class SmsOptOut(Model):
    """A phone number that texted STOP (退订): no text message goes to it, not even a
    sign-in code, until it texts START (订阅) — what carriers require, and what Twilio
    enforces by refusing the send. Kept by number, so a number nobody registered counts."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime)
