"""Group messages (群发通知): staff, or a 三长 for the node they lead, write once to a community,
grid, building, unit, team or an activity's volunteers.

`preview` counts who it reaches and how (WeChat, then Telegram, where a chat is linked
and that channel was chosen, else a text message), who it skips (退订 to group messages,
全部退订 of everything, STOP from the number) and what the texts cost in parts; `send`
writes one outbox message a person, in one statement, spread out at
LINLI_BROADCAST_PER_SECOND and held past each community's quiet hours, and records the
broadcast with its counts and an audit event. A second send with the preview's key sends
nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.channels import outbox, sms_text
from app.core import audit
from app.core.database import insert_unless_taken
from app.core.errors import BusinessRuleError, InvalidInput, NotFound, NotPermitted
from app.core.extensions import db
from app.models import (
    Activity,
    Broadcast,
    ChatLink,
    LeaderRole,
    OrgUnit,
    OutboxMessage,
    Person,
    Signup,
    SmsOptOut,
    Team,
    TeamMember,
)
from app.models.base import table_of
from app.people import org

MAX_BODY = 300
CHANNELS = ("sms", "wechat", "telegram")


@dataclass(frozen=True)
class Target:
    kind: str  # "node" (community, grid, building, unit), "team" or "activity"
    id: int
    name: str
    community_id: int


@dataclass(frozen=True)
class Preview:
    target: Target
    body: str
    channels: tuple[str, ...]
    audience: int  # residents the target holds
    by_sms: int
    by_wechat: int
    by_telegram: int
    opted_out: int  # 退订 of group messages or of everything
    stopped: int  # texted STOP and have no chat: no channel is left
    unreachable: int  # only reachable by a channel not chosen
    parts_each: int  # the parts the longest text message costs (languages differ)
    sms_parts: int  # the parts all the text messages cost, each in its reader's language

    @property
    def reached(self) -> int:
        return self.by_sms + self.by_wechat + self.by_telegram

    @property
    def skipped(self) -> int:
        return self.opted_out + self.stopped + self.unreachable


def target(kind: str, target_id: int) -> Target:
    """What a broadcast goes to; NotFound for anything else."""
    if kind == "node":
        node = db.session.get(OrgUnit, target_id)
        if node is not None and node.kind in ("community", "grid", "building", "unit"):
            assert node.community_id is not None
            return Target("node", node.id, _node_name(node), node.community_id)
    elif kind == "team":
        team = db.session.get(Team, target_id)
        if team is not None:
            return Target("team", team.id, team.name, team.community_id)
    elif kind == "activity":
        activity = db.session.get(Activity, target_id)
        if activity is not None:
            return Target("activity", activity.id, activity.title, activity.community_id)
    raise NotFound(_l("There is no such group to write to."), field="target")


def _node_name(node: OrgUnit) -> str:
    """ "阳光社区 · 第1网格 · 3号楼": the node with the places above it, up to its community."""
    return " · ".join(n.name for n in org.ancestors(node) if n.kind != "street")[:200]


def may_send(person: Person, to: Target, community_ids: set[int] | None) -> bool:
    """Staff to their communities (an administrator anywhere); a 三长 to the node they lead
    and what lies under it."""
    if person.has_role("admin"):
        return True
    if person.has_role("staff") and (community_ids is None or to.community_id in community_ids):
        return True
    return to.kind == "node" and _leads(person, to.id)


def _leads(person: Person, node_id: int) -> bool:
    """Whether a 三长 role of `person` lies on the node or above it."""
    node = db.session.get(OrgUnit, node_id)
    assert node is not None
    led = db.session.scalars(
        sa.select(OrgUnit.path)
        .join(LeaderRole, LeaderRole.org_unit_id == OrgUnit.id)
        .where(LeaderRole.person_id == person.id)
    ).all()
    return any(node.path.startswith(path) for path in led)


def led_targets(person: Person) -> list[Target]:
    """The nodes a 三长 leads: where they may write from their phone."""
    nodes = db.session.scalars(
        sa.select(OrgUnit)
        .join(LeaderRole, LeaderRole.org_unit_id == OrgUnit.id)
        .where(LeaderRole.person_id == person.id)
        .order_by(OrgUnit.path)
    ).all()
    return [Target("node", n.id, _node_name(n), n.community_id or 0) for n in nodes]


def _members(to: Target) -> sa.Select:
    """The ids of the residents a target holds."""
    if to.kind == "node":
        node = db.session.get(OrgUnit, to.id)
        assert node is not None
        inside = org.subtree_filter(Person.org_unit_id, node)
        if node.kind == "community":  # a resident not placed in it yet belongs to it too
            inside = inside | (Person.community_id == node.id)
        return sa.select(Person.id).where(inside)
    if to.kind == "team":
        return sa.select(TeamMember.person_id).where(TeamMember.team_id == to.id)
    return sa.select(Signup.person_id).where(
        Signup.activity_id == to.id, Signup.status == "confirmed"
    )


def _recipients(to: Target) -> list[sa.Row]:
    """Each resident with what decides their channel, in one statement."""

    def chat(channel: str):
        return (
            sa.select(ChatLink.chat_id)
            .where(ChatLink.person_id == Person.id, ChatLink.channel == channel)
            .limit(1)
            .scalar_subquery()
        )

    stopped = sa.exists().where(SmsOptOut.phone == Person.phone)
    return list(
        db.session.execute(
            sa.select(
                Person.id,
                Person.phone,
                Person.locale,
                Person.community_id,
                Person.notifications_off | Person.broadcasts_off,
                chat("wechat"),
                chat("telegram"),
                stopped,
            )
            .where(
                Person.id.in_(_members(to)),
                Person.is_active_account.is_(True),
                Person.community_id.is_not(None),
            )
            .order_by(Person.id)
        )
    )


def _route(row, channels: tuple[str, ...]) -> tuple[str, str] | str:
    """(channel, recipient) for one resident — WeChat, then Telegram, where they linked a
    chat and it was chosen, else a text message — or why they are skipped."""
    _id, phone, _locale, _community, off, wechat_id, telegram_id, stopped = row
    if off:
        return "opted_out"
    for channel, chat_id in (("wechat", wechat_id), ("telegram", telegram_id)):
        if chat_id is not None and channel in channels:
            return channel, chat_id
    if "sms" in channels and not stopped:
        return "sms", phone
    no_chat = wechat_id is None and telegram_id is None
    return "stopped" if stopped and no_chat else "unreachable"


def _text(body: str, community_name: str, locale: str) -> str:
    """One person's copy: the community's signature, the text, and how to stop them."""
    with force_locale(locale):
        footer = _("Text 退订 to stop group messages.")
    return f"【{community_name}】{body}\n{footer}"


def _clean(body: str, channels) -> tuple[str, tuple[str, ...]]:
    """The text with its lines kept (spaces within a line collapsed, no blank lines at the
    ends, no control characters), and the channels chosen, in a fixed order."""
    lines = [
        " ".join("".join(ch if ch.isprintable() else " " for ch in line).split())
        for line in (body or "").splitlines()
    ]
    body = "\n".join(lines).strip()
    if not body:
        raise InvalidInput(_l("Write the message."), field="body")
    if len(body) > MAX_BODY:
        raise InvalidInput(
            _l("The message is longer than %(max)s characters."), field="body", max=MAX_BODY
        )
    chosen = tuple(c for c in CHANNELS if c in set(channels or ()))
    if not chosen:
        raise InvalidInput(_l("Choose at least one channel."), field="channels")
    return body, chosen


def preview(to: Target, body: str, channels) -> Preview:
    return _plan(to, body, channels)[0]


def _plan(to: Target, body: str, channels) -> tuple[Preview, list[tuple[sa.Row, tuple]]]:
    """The preview, and each reachable resident with their (channel, recipient)."""
    body, chosen = _clean(body, channels)
    counts = dict.fromkeys((*CHANNELS, "opted_out", "stopped", "unreachable"), 0)
    community = db.session.get(OrgUnit, to.community_id)
    assert community is not None
    parts = {loc: sms_text.parts(_text(body, community.name, loc)) for loc in ("zh", "en")}
    texts: list[int] = []
    reached = []
    rows = _recipients(to)
    for row in rows:
        route = _route(row, chosen)
        if isinstance(route, tuple):
            counts[route[0]] += 1
            reached.append((row, route))
            if route[0] == "sms":
                texts.append(parts.get(row[2], parts["zh"]))
        else:
            counts[route] += 1
    seen = Preview(
        target=to,
        body=body,
        channels=chosen,
        audience=len(rows),
        by_sms=counts["sms"],
        by_wechat=counts["wechat"],
        by_telegram=counts["telegram"],
        opted_out=counts["opted_out"],
        stopped=counts["stopped"],
        unreachable=counts["unreachable"],
        parts_each=max(texts, default=parts["zh"]),
        sms_parts=sum(texts),
    )
    return seen, reached


def send(
    to: Target,
    body: str,
    channels,
    *,
    sender: Person,
    community_ids: set[int] | None,
    key: str,
    now: datetime,
    source: str = "panel",
) -> Broadcast:
    """Queue the broadcast; the one sent with `key` before is returned as it was."""
    if not may_send(sender, to, community_ids):
        raise NotPermitted(_l("You may not write to this group."), field="target")
    if not key or len(key) > 64:
        raise InvalidInput(_l("The form has expired; preview the message again."), field="key")
    found = db.session.scalar(sa.select(Broadcast).filter_by(idempotency_key=key))
    if found is not None:
        if found.sender_id != sender.id:  # a key typed in, not the one our preview drew
            raise InvalidInput(_l("The form has expired; preview the message again."), field="key")
        return found
    sent_today = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Broadcast)
        .where(Broadcast.sender_id == sender.id, Broadcast.created_at > now - timedelta(days=1))
    )
    limit = current_app.config["BROADCASTS_PER_DAY"]
    if sent_today >= limit:
        raise BusinessRuleError(
            _l("You have sent %(limit)s group messages in the last 24 hours; that is the limit."),
            field="body",
            limit=limit,
        )
    seen, reached = _plan(to, body, channels)
    broadcast = insert_unless_taken(
        Broadcast,
        dict(
            community_id=to.community_id,
            target_kind=to.kind,
            target_id=to.id,
            target_name=to.name,
            body=seen.body,
            channels=",".join(seen.channels),
            sender_id=sender.id,
            idempotency_key=key,
            created_at=now,
            audience=seen.audience,
            by_sms=seen.by_sms,
            by_wechat=seen.by_wechat,
            by_telegram=seen.by_telegram,
            sms_parts=seen.sms_parts,
            skipped=seen.skipped,
        ),
    )
    if broadcast is None:  # the same form sent twice at once: the other one sends it
        found = db.session.scalar(sa.select(Broadcast).filter_by(idempotency_key=key))
        assert found is not None
        return found
    _queue_copies(broadcast, seen, reached, now)
    audit.record(
        "broadcast.send",
        broadcast,
        actor=sender,
        source=source,
        now=now,
        after={
            "target": f"{to.kind}:{to.id}",
            "audience": seen.audience,
            "by_sms": seen.by_sms,
            "by_wechat": seen.by_wechat,
            "by_telegram": seen.by_telegram,
            "sms_parts": seen.sms_parts,
            "skipped": seen.skipped,
        },
        reason=seen.body[:500],
    )
    return broadcast


def _queue_copies(broadcast: Broadcast, seen: Preview, reached, now: datetime) -> None:
    """One outbox row a reachable resident, in one INSERT: the first after the quiet hours,
    the rest spread out at the configured rate."""
    community = db.session.get(OrgUnit, broadcast.community_id)
    assert community is not None
    per_second = current_app.config["BROADCAST_PER_SECOND"]
    start = outbox.after_quiet_hours(now, community)
    rows = [
        dict(
            broadcast_id=broadcast.id,
            person_id=row[0],
            channel=channel,
            recipient=recipient,
            kind="broadcast",
            body=_text(seen.body, community.name, row[2]),
            status="pending",
            attempts=0,
            next_attempt_at=start + timedelta(seconds=n / per_second),
            created_at=now,
            last_error="",
        )
        for n, (row, (channel, recipient)) in enumerate(reached)
    ]
    if rows:
        db.session.execute(sa.insert(table_of(OutboxMessage)), rows)


def recent(community_ids: set[int] | None, limit: int = 50) -> list[Broadcast]:
    query = sa.select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
    if community_ids is not None:
        query = query.where(Broadcast.community_id.in_(community_ids))
    return list(db.session.scalars(query))


def get(broadcast_id: int, community_ids: set[int] | None) -> Broadcast:
    broadcast = db.session.get(Broadcast, broadcast_id)
    if broadcast is None or (
        community_ids is not None and broadcast.community_id not in community_ids
    ):
        raise NotFound(_l("There is no such group message."), field="broadcast")
    return broadcast


def delivered(broadcast_ids: list[int]) -> dict[int, dict[str, int]]:
    """Each broadcast's copies by status (pending, sent, failed; shown, in demo mode), in
    one statement."""
    found: dict[int, dict[str, int]] = {bid: {} for bid in broadcast_ids}
    if broadcast_ids:
        rows = db.session.execute(
            sa.select(OutboxMessage.broadcast_id, OutboxMessage.status, sa.func.count())
            .where(OutboxMessage.broadcast_id.in_(broadcast_ids))
            .group_by(OutboxMessage.broadcast_id, OutboxMessage.status)
        ).all()
        for bid, status, count in rows:
            found[bid or 0][status] = count  # bid is never None: the WHERE names it
    return found
