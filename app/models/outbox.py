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

    # The group message this is one person's copy of.
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"), index=True)

    person: Mapped[Person | None] = relationship()


class SmsOptOut(Model):
    """A phone number that texted STOP (退订): no text message goes to it, not even a
    sign-in code, until it texts START (订阅) — what carriers require, and what Twilio
    enforces by refusing the send. Kept by number, so a number nobody registered counts."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Broadcast(Model):
    """A message staff (or a 三长) sent to a community, grid, building, unit, team or an
    activity's volunteers: who, to whom, what, and what it reached, as the preview counted.
    Each person's copy is an outbox message of kind "broadcast"."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        CheckConstraint("target_kind IN ('node', 'team', 'activity')", name="target_kind"),
        Index("ix_broadcasts_sender_id_created_at", "sender_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    target_kind: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[int]
    # What the target was called when it was sent (a grid may be renamed later).
    target_name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # The channels chosen: "sms,wechat,telegram" or some of them.
    channels: Mapped[str] = mapped_column(String(30))
    sender_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audience: Mapped[int]
    by_sms: Mapped[int]
    by_wechat: Mapped[int]
    by_telegram: Mapped[int]
    sms_parts: Mapped[int]
    skipped: Mapped[int]

    sender: Mapped[Person] = relationship()

    @property
    def reached(self) -> int:
        """The copies queued, over every channel."""
        return self.by_sms + self.by_wechat + self.by_telegram
