"""Deductions (扣分: 违规停车, 高空抛物 …): staff of a person's community take points under a
deduction rule, with a reason the person reads and evidence where the rule asks for it.

The rule's per-person limits apply (counted as deeds are). A wallet never goes below zero:
what it cannot cover is, as the rule says, owed — taken from what the person earns next,
each earning once (`collect_owed`, called by `awards.award`) — or waived. A deduction is a
posting of kind `deduction` (the points go back to the community's issuance account); it
counts against what the person earned that month, so boards and the monthly statement show
it, and the person may object to the statement. Staff undo one by reversing it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from app.channels import outbox
from app.core import audit, files
from app.core.errors import (
    BusinessRuleError,
    InsufficientPoints,
    InvalidInput,
    LinliError,
    NotFound,
)
from app.core.extensions import db
from app.core.text import one_line
from app.models import Deduction, DeedRule, LedgerTransaction, Person
from app.models.base import table_of
from app.people import org
from app.points import deeds, ledger

MAX_REASON = 200


def _post(deduction: Deduction, points: int, key: str, now: datetime, actor: Person | None):
    """Take up to `points` from the wallet (what it holds, read under its lock by the
    posting: a spend at the same moment makes the second try take less); returns the
    transaction and what it took (0: nothing, no transaction)."""
    person = deduction.person
    wallet = ledger.wallet_for(person)
    community = org.community_by_id(deduction.community_id)
    for _attempt in range(3):
        take = min(points, ledger.balance(wallet))
        if take <= 0:
            return None, 0
        try:
            with db.session.begin_nested():
                txn = ledger.post(
                    kind="deduction",
                    legs=[
                        ledger.Leg(wallet, -take),
                        ledger.Leg(ledger.issuance_account(community), take),
                    ],
                    idempotency_key=key,
                    now=now,
                    memo=f"{deduction.rule.title}：{deduction.reason}"[:200],
                    actor=actor,
                )
            return txn, take
        except InsufficientPoints:
            db.session.refresh(wallet)
    raise BusinessRuleError(_l("The balance keeps changing; try again."), field="person")


def deduct(
    rule: DeedRule,
    person: Person,
    *,
    reason: str,
    key: str,
    actor: Person,
    community_ids: set[int] | None,
    now: datetime,
    photo: bytes | None = None,
) -> Deduction:
    """Take the rule's points from `person` (once per `key`: the form's, drawn when it was
    shown); the person is told why, what was taken and what is owed."""
    if person.community_id is None or (
        community_ids is not None and person.community_id not in community_ids
    ):
        raise NotFound(_l("Nobody here has this id or phone number."), field="person")
    if not rule.deducts or rule.community_id not in (None, person.community_id):
        raise NotFound(_l("There is no such rule."), field="rule")
    if not rule.active:
        raise BusinessRuleError(_l("This rule is switched off."), field="rule")
    if not key or len(key) > 100:
        raise InvalidInput(_l("An idempotency key is required."), field="key")
    found = db.session.scalar(sa.select(Deduction).filter_by(idempotency_key=key))
    if found is not None:  # the same form sent again
        if (found.person_id, found.rule_id) != (person.id, rule.id):
            raise InvalidInput(_l("This form was already used; open it again."), field="key")
        return found
    reason = one_line(
        reason,
        field="reason",
        max_length=MAX_REASON,
        required=_l("Say what happened: the resident reads it."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    if rule.evidence_required and not photo:
        raise InvalidInput(_l("This deduction needs a photo as evidence."), field="photo")
    day, month = deeds.periods(now)
    if not deeds.count_use(rule, person, day, rule.daily_limit) or not deeds.count_use(
        rule, person, month, rule.monthly_limit
    ):
        raise BusinessRuleError(_l("The limit for this rule is reached."), field="rule")
    deduction = Deduction(
        rule_id=rule.id,
        person_id=person.id,
        community_id=person.community_id,
        points=rule.points,
        taken=0,
        owed=0,
        reason=reason,
        status="active",
        idempotency_key=key,
        actor_id=actor.id,
        created_at=now,
        reverse_reason="",
    )
    db.session.add(deduction)
    db.session.flush()
    if photo:
        deduction.photo = files.replace_photo("deduction-photo", deduction.id, None, photo, now=now)
    txn, taken = _post(deduction, rule.points, f"deduction:{key}", now, actor)
    deduction.taken = taken
    deduction.transaction_id = txn.id if txn is not None else None
    deduction.owed = rule.points - taken if rule.owe_beyond_balance else 0
    db.session.flush()
    audit.record(
        "deduction.create",
        deduction,
        actor=actor,
        source="panel",
        now=now,
        after={"person_id": person.id, "points": -rule.points, "taken": taken},
        reason=reason,
    )
    balance = ledger.balance(ledger.wallet_for(person))
    if deduction.owed:
        text = _l(
            "Linli: %(points)s points were deducted for %(rule)s: %(reason)s. %(taken)s were "
            "taken now, %(owed)s will be taken from what you earn next. To object, reply 异议 "
            "while the month's statement is on display."
        )
    elif taken < rule.points:
        text = _l(
            "Linli: %(points)s points were deducted for %(rule)s: %(reason)s. You had "
            "%(taken)s, which were taken; the rest is waived. To object, reply 异议 while the "
            "month's statement is on display."
        )
    else:
        text = _l(
            "Linli: %(points)s points were deducted for %(rule)s: %(reason)s. You have "
            "%(balance)s now. To object, reply 异议 while the month's statement is on display."
        )
    outbox.tell(
        person,
        "deduction",
        text,
        now=now,
        points=rule.points,
        rule=rule.title,
        reason=reason,
        taken=taken,
        owed=deduction.owed,
        balance=balance,
    )
    return deduction


def collect_owed(person: Person, earning: LedgerTransaction, *, now: datetime) -> int:
    """Take what the person owes on deductions from the points an earning just brought,
    oldest debt first; returns how many were taken. Each part is first claimed off the
    debt by a conditional UPDATE (two earnings at once never take the same owed points
    twice), then posted; whatever goes wrong leaves the debt as it was and never stops the
    earning."""
    owing = list(
        db.session.scalars(
            sa.select(Deduction)
            .where(
                Deduction.person_id == person.id,
                Deduction.owed > 0,
                Deduction.status == "active",
            )
            .order_by(Deduction.id)
        )
    )
    if not owing:
        return 0
    table = table_of(Deduction)
    wallet = ledger.wallet_for(person)
    collected = 0
    for deduction in owing:
        want = min(deduction.owed, ledger.balance(wallet))
        if want <= 0:
            break
        try:
            with db.session.begin_nested():
                claimed = db.session.execute(
                    sa.update(table)
                    .where(
                        table.c.id == deduction.id,
                        table.c.status == "active",
                        table.c.owed >= want,
                    )
                    .values(owed=table.c.owed - want, taken=table.c.taken + want)
                    .returning(table.c.id)
                ).first()
                if claimed is None:
                    continue
                _txn, took = _post(
                    deduction, want, f"deduction:{deduction.id}:from:{earning.id}", now, None
                )
                if took < want:  # spent meanwhile: the rest stays owed
                    db.session.execute(
                        sa.update(table)
                        .where(table.c.id == deduction.id)
                        .values(
                            owed=table.c.owed + (want - took), taken=table.c.taken - (want - took)
                        )
                    )
        except LinliError:
            break
        db.session.refresh(deduction)
        db.session.refresh(wallet)
        collected += took
    return collected


def reverse(deduction: Deduction, *, reason: str, actor: Person, now: datetime) -> Deduction:
    """Undo a deduction (an objection upheld): what was taken goes back, nothing more is
    owed; the person is told."""
    reason = one_line(
        reason,
        field="reason",
        max_length=MAX_REASON,
        required=_l("Say why: the resident reads it."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    table = table_of(Deduction)
    claimed = db.session.execute(
        sa.update(table)
        .where(table.c.id == deduction.id, table.c.status == "active")
        .values(status="reversed", owed=0, reversed_at=now, reverse_reason=reason)
        .returning(table.c.id)
    ).first()
    if claimed is None:
        raise BusinessRuleError(_l("This deduction was already undone."), field="deduction")
    db.session.refresh(deduction)
    postings = db.session.scalars(
        sa.select(LedgerTransaction).where(
            LedgerTransaction.kind == "deduction",
            sa.or_(
                LedgerTransaction.idempotency_key == deduction_key(deduction),
                LedgerTransaction.idempotency_key.startswith(f"deduction:{deduction.id}:from:"),
            ),
        )
    ).all()
    for posting in postings:
        ledger.reverse(
            posting,
            idempotency_key=f"reverse:{posting.idempotency_key}",
            now=now,
            memo=str(_l("Deduction undone: %(reason)s", reason=reason))[:200],
            actor=actor,
            may_exceed_budget=True,
        )
    audit.record(
        "deduction.reverse",
        deduction,
        actor=actor,
        source="panel",
        now=now,
        after={"person_id": deduction.person_id, "points": deduction.taken},
        reason=reason,
    )
    outbox.tell(
        deduction.person,
        "deduction",
        _l(
            "Linli: the deduction for %(rule)s was undone (%(reason)s); %(points)s points are back."
        ),
        now=now,
        rule=deduction.rule.title,
        reason=reason,
        points=deduction.taken,
    )
    return deduction


def deduction_key(deduction: Deduction) -> str:
    return f"deduction:{deduction.idempotency_key}"


def get(deduction_id: int, community_ids: set[int] | None) -> Deduction:
    found = db.session.get(Deduction, deduction_id)
    if found is None or (community_ids is not None and found.community_id not in community_ids):
        raise NotFound(_l("There is no such deduction."), field="deduction")
    return found


def recent(community_ids: set[int] | None, *, limit: int = 100) -> list[Deduction]:
    query = (
        sa.select(Deduction)
        .options(
            selectinload(Deduction.person).selectinload(Person.community),
            selectinload(Deduction.rule),
            selectinload(Deduction.actor),
        )
        .order_by(Deduction.id.desc())
        .limit(limit)
    )
    if community_ids is not None:
        query = query.where(Deduction.community_id.in_(community_ids))
    return list(db.session.scalars(query))
