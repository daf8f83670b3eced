"""Linking a chat account (Telegram) to a person: by a shared contact, or by a texted code."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core import strikes
from app.core.database import insert_unless_taken
from app.core.errors import CodeExpired
from app.core.extensions import db
from app.core.phones import normalize_phone
from app.models import ChatLink, Person
from app.people import people, signin


def link_for(channel: str, external_id: str, chat_id: str, now: datetime) -> ChatLink:
    """The chat account's row, made on first contact.

    Made by INSERT … ON CONFLICT DO NOTHING: a new user's first messages often come several
    at once (typed fast, or retried), and the one that loses the race reads the winner's row
    instead of failing on its unique key."""
    found = sa.select(ChatLink).filter_by(channel=channel, external_id=external_id)
    link = db.session.scalar(found)
    if link is None:
        made = dict(channel=channel, external_id=external_id, chat_id=chat_id, created_at=now)
        link = insert_unless_taken(ChatLink, made) or db.session.scalar(found)
        assert link is not None  # ours, or the one that was inserted first (and committed)
    link.chat_id = chat_id
    return link


def person_of(link: ChatLink) -> Person | None:
    return db.session.get(Person, link.person_id) if link.person_id else None


def by_contact(link: ChatLink, raw_phone: str, now: datetime) -> Person | None:
    """Telegram shared the user's own phone number: link it if someone has it."""
    person = people.find_by_phone(normalize_phone(raw_phone))
    if person is not None:
        link.person_id = person.id
        link.pending_phone = None
        link.linked_at = now
        db.session.flush()
    return person


# 绑定 sends a text message to any number typed: 3 a chat an hour (each number also has
# sign-in's own limits), so one chat cannot pump codes to many phones.
CODES_PER_CHAT = strikes.Limit("link-codes:chat", 3, timedelta(hours=1))


def ask_code(link: ChatLink, raw_phone: str, *, now: datetime, locale: str) -> None:
    """绑定 phone: text a code to that phone; the chat must send it back (raises like
    sign-in: a bad number, too many codes — for the phone or from this chat)."""
    guard = [(CODES_PER_CHAT, link.id)]
    strikes.ensure_open(
        guard,
        now,
        field="phone",
        message=_l("Too many codes were sent from this chat. Try again in %(minutes)s minutes."),
    )
    message = signin.send_code(raw_phone, now=now, locale=locale)
    strikes.record(guard, now)
    link.pending_phone = message.recipient
    db.session.flush()


def with_code(link: ChatLink, code: str, *, now: datetime) -> Person | None:
    """The code texted to the pending phone, sent back in the chat: link (raises when wrong)."""
    if link.pending_phone is None:
        raise CodeExpired(field="code")
    phone = signin.check_code(link.pending_phone, code, now=now)
    return by_contact(link, phone, now)
