"""Queue messages to people in the transaction that causes them; deliver them after commit.

`queue` writes a row in the caller's transaction, so a message exists exactly when what
it announces was committed. Delivery (`app.delivery`) claims a row, sends it with no
transaction open, and records the result; a failed send is retried with backoff.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core.database import delete_in_chunks, insert_row, insert_unless_taken
from app.core.errors import BusinessRuleError, NotFound
from app.core.extensions import db
from app.models import ChatLink, OrgUnit, OutboxMessage, Person, SmsOptOut
from app.models.base import table_of

MAX_ATTEMPTS = 6
# A claimed message not reported back within this time is tried again (the sender died).
LEASE = timedelta(minutes=2)


# Messages that must go at once, whatever the hour and whatever the person turned off.
URGENT_KINDS = frozenset({"sign_in_code", "password_link"})
# Sent in quiet hours too (an activity at 07:30 needs its reminder at 06:30), but still
# subject to 退订.
TIMELY_KINDS = frozenset({"activity_reminder", "code_guessing"})
_DUE_AT_ONCE = URGENT_KINDS | TIMELY_KINDS
QUIET_FROM, QUIET_UNTIL = time(22, 0), time(7, 0)


def after_quiet_hours(now: datetime, community: OrgUnit | None) -> datetime:
    """`now`, or 07:00 local when `now` falls in the quiet hours (22:00–07:00)."""
    from app.core import clock

    local = clock.local(now, community)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return now
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=local.tzinfo).astimezone(now.tzinfo)


# Chat channels a notice goes by when the person linked one, in this order: WeChat is what
# residents in mainland China use; Telegram is unreachable there.
CHATS = ("wechat", "telegram")


@dataclass(frozen=True)
class Route:
    """What decides a person's channel, as `route_columns` selected it with the person:
    their first chat ("wechat:<id>"), if any, and whether their phone texted STOP."""

    chat: str | None
    texts_stopped: bool


def _channel(
    person: Person | None, phone: str | None, route: Route | None = None
) -> tuple[str, str | None]:
    """A text message to the phone given; else WeChat or Telegram when the person linked a
    chat, else a text message to their phone. ("sms", None) when that number texted STOP.
    One statement, or none when the caller loaded the person's `route` already."""
    by_chat = phone is None
    if phone is None:
        assert person is not None  # queue() refuses a message with neither
        phone = person.phone
    if route is None or not by_chat:
        params = {"person_id": person.id if by_chat and person else None, "phone": phone}
        route = Route(*db.session.execute(_recipient(by_chat), params).one())
    if route.chat is not None:
        channel, _colon, recipient = route.chat.partition(":")
        return channel, recipient
    return "sms", None if route.texts_stopped else phone


def _first_chat(person_id: Any) -> sa.ScalarSelect[Any]:  # a bound parameter, or Person.id
    return (
        sa.select(ChatLink.channel + ":" + ChatLink.chat_id)
        .where(ChatLink.person_id == person_id, ChatLink.channel.in_(CHATS))
        .order_by(ChatLink.channel == "telegram", ChatLink.id)  # WeChat first
        .limit(1)
        .scalar_subquery()
    )


def _stopped(phone: Any) -> sa.Exists:  # a bound parameter, or Person.phone
    return sa.exists().where(SmsOptOut.phone == phone)


@functools.cache
def _recipient(by_chat: bool) -> sa.Select:
    # Built once for each kind (every notice asks it): the person's first chat when
    # `by_chat`, and whether the phone texted STOP.
    chat = _first_chat(sa.bindparam("person_id")) if by_chat else sa.null()
    return sa.select(chat, _stopped(sa.bindparam("phone")))


def route_columns() -> tuple[sa.ColumnElement[Any], sa.ColumnElement[bool]]:
    """A selected Person row's `Route`, as two columns to select with the person: a caller
    that loads them anyway and will queue them a notice (the till's sale) passes
    `Route(chat, stopped)` to `queue`, which then asks nothing more."""
    return (
        _first_chat(Person.id).label("route_chat"),
        _stopped(Person.phone).label("route_stopped"),
    )


def fall_back_to_sms(message: OutboxMessage, now: datetime) -> OutboxMessage | None:
    """A chat message given up on goes again as a text message to the person's phone
    (unless that number texted STOP); None when there is nothing to fall back to."""
    if message.channel == "sms" or message.person is None:
        return None
    if message.broadcast_id is not None:  # staff chose its channels and saw what it costs
        return None
    if message.kind not in URGENT_KINDS and message.person.notifications_off:
        return None
    phone = message.person.phone
    if texts_stopped(phone):
        return None
    return _pending(message.person, "sms", phone, message.kind, message.body, now)


def queue(
    *,
    kind: str,
    body: str,
    now: datetime,
    person: Person | None = None,
    phone: str | None = None,
    route: Route | None = None,
) -> OutboxMessage | None:
    """A message to a person over their channel (or by SMS to a bare phone number, e.g. a
    sign-in code). Notifications respect 退订 (None is returned) and wait out the quiet
    hours; urgent kinds go at once. Nothing at all goes by SMS to a number that texted STOP
    (None): the caller of an urgent kind checks `texts_stopped` first and says so.
    `route`: the person's, loaded with them in this unit of work (`route_columns`)."""
    if person is None and phone is None:
        raise ValueError("a message needs a person or a phone number")
    urgent = kind in URGENT_KINDS
    if not urgent and person is not None and person.notifications_off:
        return None
    channel, recipient = _channel(person, phone, route)
    if recipient is None:
        return None
    return _pending(person, channel, recipient, kind, body, now)


def _pending(
    person: Person | None, channel: str, recipient: str, kind: str, body: str, now: datetime
) -> OutboxMessage:
    """The message written, pending: urgent and timely kinds due at once, the rest after
    the quiet hours of the person's community."""
    return insert_row(
        OutboxMessage,
        dict(
            person_id=person.id if person else None,
            channel=channel,
            recipient=recipient,
            kind=kind,
            body=body,
            status="pending",
            next_attempt_at=(
                now
                if kind in _DUE_AT_ONCE
                else after_quiet_hours(now, person.community if person else None)
            ),
            created_at=now,
        ),
    )


# --- STOP / START by text: the carriers' opt-out, kept by number --------------------------


def texts_stopped(phone: str) -> bool:
    return db.session.get(SmsOptOut, phone) is not None


def stop_texts(phone: str, now: datetime) -> None:
    """The number texted STOP: no text message goes to it from now on (a second STOP keeps
    the first one's time)."""
    insert_unless_taken(SmsOptOut, dict(phone=phone, opted_out_at=now))


def start_texts(phone: str) -> None:
    """The number texted START: text messages may go to it again."""
    db.session.execute(sa.delete(SmsOptOut).where(SmsOptOut.phone == phone))


def tell(person: Person, kind: str, text, *, now: datetime, **values) -> OutboxMessage | None:
    """A notice to a person in their own language: `text` a lazy_gettext message with
    %(name)s placeholders filled from `values` (queued as `queue` queues it)."""
    from flask_babel import force_locale

    with force_locale(person.locale):
        body = str(text) % values if values else str(text)
    return queue(person=person, kind=kind, body=body, now=now)


def due_ids(now: datetime, limit: int) -> list[int]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )


def claim(message_ids: Sequence[int], now: datetime) -> list[OutboxMessage]:
    """Take the due ones of these messages for sending (in id order), leaving any another
    sender has or that is not due.

    One atomic conditional update, so two workers never send one message; a claim not
    reported back within LEASE (the worker died) makes the message due again.
    """
    if not message_ids:
        return []
    table = table_of(OutboxMessage)
    claimed = db.session.scalars(
        sa.update(table)
        .where(
            table.c.id.in_(list(message_ids)),
            table.c.status == "pending",
            table.c.next_attempt_at <= now,
        )
        .values(attempts=table.c.attempts + 1, next_attempt_at=now + LEASE)
        .returning(table.c.id)
    ).all()
    return reload(claimed)


def reload(message_ids: Sequence[int]) -> list[OutboxMessage]:
    """These messages as the database has them now, in id order (one statement)."""
    if not message_ids:
        return []
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.id.in_(list(message_ids)))
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
    )


# Messages that carry a secret (a sign-in code): once delivered or given up, the body is
# replaced, so the database never keeps a usable code (app.signin keeps only a keyed hash).
# Demo mode shows messages on /panel/outbox instead of sending them, so it keeps them.
SECRET_KINDS = frozenset({"sign_in_code", "password_link"})
REDACTED = "[code removed after sending]"


def _forget_secret(message: OutboxMessage) -> None:
    if message.kind in SECRET_KINDS:
        message.body = REDACTED


def record_sent(
    message: OutboxMessage, now: datetime, *, shown_only: bool, provider_id: str = ""
) -> None:
    message.status = "shown" if shown_only else "sent"
    message.sent_at = now
    message.last_error = ""
    message.provider_id = provider_id[:100] or None
    if not shown_only:
        _forget_secret(message)
    db.session.flush()


def record_failure(
    message: OutboxMessage,
    now: datetime,
    error: str,
    *,
    permanent: bool,
    retry_after: int | None = None,
) -> None:
    """A failed send: tried again later with exponential backoff — or after the wait the
    gateway asked for (`retry_after` seconds), when that is longer — or given up."""
    message.last_error = error[:500]
    if permanent or message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        _forget_secret(message)
    else:
        backoff = 30 * 2 ** (message.attempts - 1)
        message.next_attempt_at = now + timedelta(seconds=max(backoff, retry_after or 0))
    db.session.flush()


def failed(limit: int = 50) -> list[OutboxMessage]:
    """Messages given up on, newest first (for `flask outbox failed`)."""
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.status == "failed")
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def retry(message_id: int, now: datetime) -> OutboxMessage:
    """Queue a message given up on once more, with a fresh set of attempts (the gateway is
    fixed, a number corrected). A sign-in code whose text was removed is not sent again:
    the person asks for a new code."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(_l("There is no message #%(id)s."), field="message", id=message_id)
    if message.status != "failed":
        raise BusinessRuleError(
            _l("Message #%(id)s has not failed; only a failed message is sent again."),
            field="message",
            id=message_id,
        )
    if message.body == REDACTED:
        raise BusinessRuleError(
            _l("Message #%(id)s held a code that was removed; ask for a new code instead."),
            field="message",
            id=message_id,
        )
    message.status, message.attempts, message.next_attempt_at = "pending", 0, now
    db.session.flush()
    return message


def recent(limit: int = 100) -> list[OutboxMessage]:
    return list(
        db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit))
    )


def purge(now: datetime, days: int, *, checkpoint: Callable[[], None]) -> int:
    """Delete messages delivered, shown or given up more than `days` ago, a chunk at a time
    (LINLI_KEEP_OUTBOX_DAYS); a message still to send is never deleted."""
    return delete_in_chunks(
        OutboxMessage,
        sa.and_(
            OutboxMessage.status.in_(("sent", "shown", "failed")),
            OutboxMessage.created_at < now - timedelta(days=days),
        ),
        checkpoint=checkpoint,
    )
