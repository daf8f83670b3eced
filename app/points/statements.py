"""The monthly red-credit statement (公示): generate, review, publish (frozen), object, answer.

A line per resident who earned, spent or served in the month: points earned by category
(activities by their kind of service, deeds by their rule's category, awards, corrections
— negative corrections, 扣分, show as such), points spent at shops, verified hours.
Publishing stores the snapshot with its SHA-256; corrections made later show in the month
they are made, never in a published statement.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.channels import outbox
from app.core import audit, clock
from app.core.errors import BusinessRuleError, InvalidInput, NotFound, NotPermitted
from app.core.extensions import db
from app.core.text import mask_name, one_line
from app.models import (
    Account,
    Activity,
    Attendance,
    DeedAward,
    DeedRule,
    LedgerEntry,
    LedgerTransaction,
    Objection,
    OrgUnit,
    Person,
    Statement,
)
from app.points import deeds, honours, ledger, needs

DISPLAY_DAYS = 7


def month_window(month: str, community: OrgUnit) -> tuple[datetime, datetime]:
    """The UTC start and end of a calendar month in the community's zone."""
    try:
        year, number = (int(part) for part in month.split("-"))
        start = datetime(year, number, 1, tzinfo=clock.zone_for(community))
    except (ValueError, TypeError):
        raise InvalidInput(_l("A month is written 2026-11."), field="month") from None
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=start.tzinfo)
    return start.astimezone(UTC), end.astimezone(UTC)


def _lines(community: OrgUnit, month: str) -> list[dict]:
    start, end = month_window(month, community)
    original = sa.orm.aliased(LedgerTransaction)
    entries = db.session.execute(
        sa.select(
            Account.owner_id,
            LedgerEntry.amount,
            sa.func.coalesce(original.kind, LedgerTransaction.kind),
            LedgerTransaction.kind == "reversal",
            sa.func.coalesce(original.id, LedgerTransaction.id),
        )
        .join(LedgerEntry, LedgerEntry.account_id == Account.id)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .outerjoin(original, LedgerTransaction.reverses_id == original.id)
        .where(
            Account.kind == "wallet",
            Account.owner_type == "person",
            Account.community_id == community.id,
            # Earnings by the month they count in (a correction of last month counts there);
            # spending and everything else by when it happened.
            sa.or_(
                LedgerEntry.earned_in == f"M{month}",
                sa.and_(
                    LedgerEntry.earned_in.is_(None),
                    LedgerTransaction.created_at >= start,
                    LedgerTransaction.created_at < end,
                ),
            ),
        )
    ).all()
    txn_ids = [row[-1] for row in entries]
    activity_kind = dict(
        db.session.execute(
            sa.select(Attendance.transaction_id, Activity.category)
            .join(Activity, Attendance.activity_id == Activity.id)
            .where(Attendance.transaction_id.in_(txn_ids))
        ).all()
    )
    deed_kind = dict(
        db.session.execute(
            sa.select(DeedAward.transaction_id, DeedRule.category)
            .join(DeedRule, DeedAward.rule_id == DeedRule.id)
            .where(DeedAward.transaction_id.in_(txn_ids))
        ).all()
    )
    earned: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    spent: dict[int, int] = defaultdict(int)
    # A reversal counts under what it reverses (a voided redemption gives spent points
    # back; a reversed award lowers the earned points) in the month it is made.
    for person_id, amount, kind, _is_reversal, txn_id in entries:
        if kind == "redemption":
            spent[person_id] -= amount
        elif kind == "attendance":
            earned[person_id][activity_kind.get(txn_id, "other")] += amount
        elif kind == "deed":
            earned[person_id][deed_kind.get(txn_id, "other")] += amount
        elif kind in ("award", "adjustment", "need", "deduction"):
            earned[person_id][kind] += amount
    minutes = dict(
        db.session.execute(
            sa.select(Attendance.person_id, sa.func.sum(Attendance.minutes))
            .join(Activity, Attendance.activity_id == Activity.id)
            .where(
                Attendance.status == "approved",
                Activity.community_id == community.id,
                Attendance.checked_in_at >= start,
                Attendance.checked_in_at < end,
            )
            .group_by(Attendance.person_id)
        ).all()
    )
    ids = set(earned) | set(spent) | set(minutes)
    names = dict(
        db.session.execute(sa.select(Person.id, Person.name).where(Person.id.in_(ids))).all()
    )
    titles = honours.for_people(list(ids), [month, month[:4]])
    lines = []
    for person_id in sorted(ids, key=lambda pid: (-sum(earned[pid].values()), pid)):
        lines.append(
            {
                "person_id": person_id,
                "name": names.get(person_id, ""),
                "masked": mask_name(names.get(person_id, "")),
                "earned": dict(sorted(earned[person_id].items())),
                "earned_total": sum(earned[person_id].values()),
                "spent": spent.get(person_id, 0),
                "minutes": int(minutes.get(person_id) or 0),
                "honours": sorted(titles.get(person_id, [])),
            }
        )
    return lines


def _hash(lines: list[dict], need_lines: list[dict] | None = None) -> str:
    """The SHA-256 of the frozen figures (the lines alone for a statement made before
    needs were counted, so its published hash still holds)."""
    content = lines if need_lines is None else {"lines": lines, "needs": need_lines}
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def generate(community: OrgUnit, month: str, *, actor: Person, now: datetime) -> Statement:
    """Compute (or compute again) the month's draft; a published month is refused."""
    statement = db.session.scalar(
        sa.select(Statement).filter_by(community_id=community.id, month=month)
    )
    if statement is not None and statement.status == "published":
        raise BusinessRuleError(
            _l("%(month)s is published and can no longer change; corrections show next month."),
            field="month",
            month=month,
        )
    lines = _lines(community, month)
    need_lines = needs.month_lines(community, month)
    if statement is None:
        statement = Statement(community_id=community.id, month=month, status="draft")
        db.session.add(statement)
    statement.lines = lines
    statement.need_lines = need_lines
    statement.generated_at = now
    db.session.flush()
    return statement


def publish(statement: Statement, *, actor: Person, now: datetime) -> Statement:
    if statement.status == "published":
        return statement
    statement.status = "published"
    statement.content_hash = _hash(statement.lines, statement.need_lines)
    statement.published_at = now
    statement.published_by_id = actor.id
    statement.display_until = now + timedelta(days=DISPLAY_DAYS)
    db.session.flush()
    audit.record(
        "statement.publish",
        statement,
        actor=actor,
        source="panel",
        now=now,
        after={
            "month": statement.month,
            "lines": len(statement.lines),
            "hash": statement.content_hash,
        },
    )
    return statement


def intact(statement: Statement) -> bool:
    """Whether a published statement still matches the hash it was published with."""
    return statement.content_hash == _hash(statement.lines, statement.need_lines)


def get(statement_id: int) -> Statement:
    statement = db.session.get(Statement, statement_id)
    if statement is None:
        raise NotFound(_l("There is no such statement."), field="statement")
    return statement


def on_display(statement: Statement, now: datetime) -> bool:
    return (
        statement.status == "published"
        and statement.display_until is not None
        and statement.display_until > now
    )


def current_for(community_id: int, now: datetime) -> Statement | None:
    """The statement of this community on public display now, if any."""
    return db.session.scalar(
        sa.select(Statement)
        .where(
            Statement.community_id == community_id,
            Statement.status == "published",
            Statement.display_until > now,
        )
        .order_by(Statement.published_at.desc())
        .limit(1)
    )


def for_communities(community_ids: set[int] | None) -> list[Statement]:
    query = sa.select(Statement).order_by(Statement.month.desc(), Statement.community_id)
    if community_ids is not None:
        query = query.where(Statement.community_id.in_(community_ids))
    return list(db.session.scalars(query.limit(200)))


# --- objections ---------------------------------------------------------------------------


def object_to(statement: Statement, person: Person, reason: str, *, now: datetime) -> Objection:
    """A resident objects to their own line while the statement is on display."""
    reason = one_line(
        reason,
        field="reason",
        max_length=500,
        required=_l("Say what is wrong with your line."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    if not on_display(statement, now):
        raise BusinessRuleError(
            _l("The display period of this statement is over."), field="statement"
        )
    if person.community_id != statement.community_id:
        raise NotPermitted(_l("This statement is of another community."), field="statement")
    objection = Objection(
        statement_id=statement.id, person_id=person.id, reason=reason, created_at=now
    )
    db.session.add(objection)
    db.session.flush()
    audit.record(
        "statement.objection", objection, actor=person, source="web", now=now, reason=reason
    )
    return objection


def answer(
    objection: Objection,
    *,
    text: str,
    points: int,
    actor: Person,
    community_ids: set[int] | None,
    now: datetime,
) -> Objection:
    """Staff answer; a change of points becomes an adjustment in the current month."""
    text = one_line(
        text,
        field="answer",
        max_length=500,
        required=_l("Write the answer the resident will read."),
        too_long=_l("The answer is longer than %(max)s characters."),
    )
    if objection.status == "answered":
        raise BusinessRuleError(_l("This objection was already answered."), field="objection")
    if community_ids is not None and objection.statement.community_id not in community_ids:
        raise NotPermitted(field="objection")
    adjustment = None
    if points:
        adjustment = deeds.propose_adjustment(
            objection.person,
            points,
            reason=f"{objection.statement.month} 公示异议：{text}"[:200],
            maker=actor,
            community_ids=community_ids,
            idempotency_key=f"objection-{objection.id}",
            now=now,
            notify=False,  # the answer below says what changed
        )
        objection.adjustment_id = adjustment.id
    _tell_answer(objection, text, adjustment, now)
    objection.status = "answered"
    objection.answer = text
    objection.answered_by_id = actor.id
    objection.answered_at = now
    db.session.flush()
    audit.record(
        "statement.answer",
        objection,
        actor=actor,
        source="panel",
        now=now,
        after={"points": points},
        reason=text,
    )
    return objection


def _tell_answer(objection: Objection, text: str, adjustment, now: datetime) -> None:
    """The resident hears the answer over their channel, and what it changed."""
    values: dict[str, object] = dict(month=objection.statement.month, answer=text)
    if adjustment is None:
        message = _l(
            "Linli: your objection to the %(month)s statement was answered. Answer: %(answer)s"
        )
    elif adjustment.status == "posted":
        message = _l(
            "Linli: your objection to the %(month)s statement was answered; your points were "
            "corrected by %(points)+d and your balance is now %(balance)s. Answer: %(answer)s"
        )
        values.update(
            points=adjustment.points, balance=ledger.balance(ledger.wallet_for(objection.person))
        )
    else:
        message = _l(
            "Linli: your objection to the %(month)s statement was answered; a correction of "
            "%(points)+d points waits for a second staff member, and you will be told when it "
            "is made. Answer: %(answer)s"
        )
        values.update(points=adjustment.points)
    outbox.tell(objection.person, "objection_answer", message, now=now, **values)


def open_objections_query(community_ids: set[int] | None) -> sa.Select:
    """Objections not answered yet, to statements of these communities."""
    query = (
        sa.select(Objection)
        .join(Statement, Objection.statement_id == Statement.id)
        .where(Objection.status == "open")
    )
    if community_ids is not None:
        query = query.where(Statement.community_id.in_(community_ids))
    return query


def open_objections(community_ids: set[int] | None) -> list[Objection]:
    query = open_objections_query(community_ids).order_by(Objection.created_at)
    return list(db.session.scalars(query))
