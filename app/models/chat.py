"""Chat channels: inbound messages seen (each processed once) and chat accounts linked to people."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.extensions import Model
from app.models.base import UTCDateTime


class InboundMessage(Model):
    """A message a channel delivered (Telegram update_id, SMS MessageSid).

    The unique pair makes a second delivery of the same message a no-op; the reply sent
    the first time is kept to answer the retry the same way.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    text: Mapped[str] = mapped_column(String(500), default="")
    reply: Mapped[str] = mapped_column(String(2000), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ChatLink(Model):
    """A chat account (a Telegram user) and the person it speaks for.

    `person_id` is set once linked: by the user sharing their phone number with the bot
    (Telegram vouches for it), or by 绑定 phone followed by the code texted to that phone
    (`pending_phone` holds the number in between).
    """

    __tablename__ = "chat_links"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    pending_phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
