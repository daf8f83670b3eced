"""Deed rules, awarding deeds to one person or many, and manual adjustments (maker-checker).

Awarding many works in two steps: `preview` says who gets what and who a rule's limit or
the staff member's reach blocks; `award_many` posts each person in their own savepoint
under the key `deed:<batch>:<person>`, so a double click or a refresh of the confirm
posts nothing twice and one blocked person does not stop the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.channels import outbox
from app.core import audit, clock
from app.core.database import add_to_counter
from app.core.errors import (
    BusinessRuleError,
    IdempotencyConflict,
    InvalidAmount,
    InvalidInput,
    LinliError,
    NotFound,
    NotPermitted,
)
from app.core.extensions import db
from app.core.text import one_line
from app.models import (
    Adjustment,
    DeedAward,
    DeedCount,
    DeedRule,
    LedgerEntry,
    LedgerTransaction,
    OrgUnit,
    Person,
    TeamMember,
)
from app.models.base import table_of
from app.models.deeds import DEED_CATEGORIES
from app.people import org
from app.points import awards, ledger

MAX_POINTS = 10_000
MAX_NOTE = 500
CATEGORY_NAMES = {
    "elderly_care": _l("Elderly care"),
    "environment": _l("Environment"),
    "mediation": _l("Mediation"),
    "safety": _l("Safety patrol"),
    "culture": _l("Culture and education"),
    "health": _l("Health"),
    "other": _l("Other good deeds"),
}


# --- rules --------------------------------------------------------------------------------


@dataclass
class RuleFields:
    title: str
    category: str
    points: int
    daily_limit: int | None = None
    monthly_limit: int | None = None
    evidence_required: bool = False
    active: bool = True
    # A deduction (扣分) takes the points; what the wallet lacks is owed, or waived.
    deducts: bool = False
    owe_beyond_balance: bool = False


def _clean_rule(fields: RuleFields) -> dict:
    title = one_line(
        fields.title,
        field="title",
        max_length=100,
        required=_l("A title is required."),
        too_long=_l("The title is longer than %(max)s characters."),
    )
    if fields.category not in DEED_CATEGORIES:
        raise InvalidInput(_l("Choose a category."), field="category")
    if type(fields.points) is not int or not 1 <= fields.points <= MAX_POINTS:
        raise InvalidAmount(
            _l("Points must be a whole number from 1 to %(max)s."), field="points", max=MAX_POINTS
        )
    for name in ("daily_limit", "monthly_limit"):
        value = getattr(fields, name)
        if value is not None and (type(value) is not int or not 1 <= value <= 1000):
            raise InvalidInput(_l("A limit is a number from 1 to 1000, or empty."), field=name)
    return {
        "title": title,
        "category": fields.category,
        "points": fields.points,
        "daily_limit": fields.daily_limit,
        "monthly_limit": fields.monthly_limit,
        "evidence_required": bool(fields.evidence_required),
        "active": bool(fields.active),
        "deducts": bool(fields.deducts),
        "owe_beyond_balance": bool(fields.deducts and fields.owe_beyond_balance),
    }


def _rule_snapshot(rule: DeedRule) -> dict:
    return {
        "title": rule.title,
        "category": rule.category,
        "points": rule.points,
        "daily_limit": rule.daily_limit,
        "monthly_limit": rule.monthly_limit,
        "evidence_required": rule.evidence_required,
        "active": rule.active,
        "deducts": rule.deducts,
        "owe_beyond_balance": rule.owe_beyond_balance,
    }


def create_rule(
    fields: RuleFields, *, community: OrgUnit | None, actor: Person, now: datetime
) -> DeedRule:
    rule = DeedRule(
        community_id=community.id if community else None,
        created_at=now,
        updated_at=now,
        **_clean_rule(fields),
    )
    db.session.add(rule)
    db.session.flush()
    audit.record(
        "deed_rule.create", rule, actor=actor, source="panel", now=now, after=_rule_snapshot(rule)
    )
    return rule


def update_rule(rule: DeedRule, fields: RuleFields, *, actor: Person, now: datetime) -> DeedRule:
    if bool(fields.deducts) != rule.deducts:
        raise InvalidInput(
            _l("A rule stays an award or a deduction: make a new rule instead."), field="deducts"
        )
    before = _rule_snapshot(rule)
    for key, value in _clean_rule(fields).items():
        setattr(rule, key, value)
    after = _rule_snapshot(rule)
    if after != before:
        rule.updated_at = now
        db.session.flush()
        audit.record(
            "deed_rule.update",
            rule,
            actor=actor,
            source="panel",
            now=now,
            before=before,
            after=after,
        )
    return rule


def rules_for(
    community_ids: set[int] | None, *, active_only: bool = False, deducts: bool | None = None
) -> list[DeedRule]:
    """The street's rules and those of the given communities (None: every rule); only the
    awarding ones (`deducts` False) or only the deductions (True), or both."""
    query = sa.select(DeedRule).order_by(DeedRule.category, DeedRule.points, DeedRule.id)
    if deducts is not None:
        query = query.where(DeedRule.deducts.is_(deducts))
    if community_ids is not None:
        query = query.where(
            sa.or_(DeedRule.community_id.is_(None), DeedRule.community_id.in_(community_ids))
        )
    if active_only:
        query = query.where(DeedRule.active.is_(True))
    return list(db.session.scalars(query))


def get_rule(rule_id: int, community_ids: set[int] | None) -> DeedRule:
    rule = db.session.get(DeedRule, rule_id)
    if rule is None or (
        community_ids is not None
        and rule.community_id is not None
        and rule.community_id not in community_ids
    ):
        raise NotFound(_l("There is no such rule."), field="rule")
    return rule


# --- choosing people ----------------------------------------------------------------------


@dataclass
class Chosen:
    people: list[Person] = field(default_factory=list)
    # Lines of a pasted list that named nobody, with why.
    problems: list[tuple[str, str]] = field(default_factory=list)


def people_by_ids(ids: list[int], community_ids: set[int] | None) -> list[Person]:
    """The people with these ids within the worker's communities (others are left out)."""
    if not ids:
        return []
    select = sa.select(Person).where(Person.id.in_(ids))
    if community_ids is not None:
        select = select.where(Person.community_id.in_(community_ids))
    found = {p.id: p for p in db.session.scalars(select)}
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def people_of_team(team_id: int) -> list[Person]:
    return list(
        db.session.scalars(
            sa.select(Person)
            .join(TeamMember, TeamMember.person_id == Person.id)
            .where(TeamMember.team_id == team_id)
            .order_by(Person.name, Person.id)
        )
    )


def people_under(node: OrgUnit) -> list[Person]:
    """Everyone living in a building (or any node) and below it."""
    return list(
        db.session.scalars(
            sa.select(Person)
            .where(org.subtree_filter(Person.org_unit_id, node))
            .order_by(Person.name, Person.id)
        )
    )


def people_from_phones(text: str, community_ids: set[int] | None) -> Chosen:
    """A pasted list: one phone per line (or separated by commas / spaces). A phone of
    someone outside the worker's communities says only that, never who it is."""
    from app.core.phones import normalize_phone
    from app.people import people as people_service

    chosen = Chosen()
    seen: set[int] = set()
    parts = [
        part
        for line in (text or "").splitlines()
        for part in line.replace("，", ",").replace("、", ",").split(",")
    ]
    for raw in parts:
        raw = raw.strip()
        if not raw:
            continue
        try:
            person = people_service.find_by_phone(normalize_phone(raw))
        except LinliError as exc:
            chosen.problems.append((raw, str(exc)))
            continue
        if person is None:
            chosen.problems.append((raw, str(_l("Nobody is registered with this phone number."))))
        elif community_ids is not None and person.community_id not in community_ids:
            chosen.problems.append((raw, str(_l("Not in your communities."))))
        elif person.id not in seen:
            seen.add(person.id)
            chosen.people.append(person)
    return chosen


# --- awarding -----------------------------------------------------------------------------


def periods(now: datetime) -> tuple[str, str]:
    local = clock.local(now, None)
    return local.strftime("D%Y-%m-%d"), local.strftime("M%Y-%m")


def _used(rule: DeedRule, person: Person, period: str) -> int:
    row = db.session.get(DeedCount, (rule.id, person.id, period))
    return row.used if row else 0


@dataclass
class PreviewRow:
    person: Person
    points: int
    blocked: str | None  # why this person will be skipped; None when they get the points


def _blocked(
    rule: DeedRule, person: Person, community_ids: set[int] | None, now: datetime
) -> str | None:
    if person.community_id is None:
        return str(_l("Not a resident of any community."))
    if community_ids is not None and person.community_id not in community_ids:
        return str(_l("Lives outside your communities."))
    if rule.community_id is not None and person.community_id != rule.community_id:
        return str(_l("This rule belongs to another community."))
    day, month = periods(now)
    if rule.daily_limit is not None and _used(rule, person, day) >= rule.daily_limit:
        return str(_l("Already awarded %(n)s times today (the limit).") % {"n": rule.daily_limit})
    if rule.monthly_limit is not None and _used(rule, person, month) >= rule.monthly_limit:
        return str(
            _l("Already awarded %(n)s times this month (the limit).") % {"n": rule.monthly_limit}
        )
    return None


def preview(
    rule: DeedRule, chosen: list[Person], *, community_ids: set[int] | None, now: datetime
) -> list[PreviewRow]:
    """Who would get the rule's points now, and who is blocked and why."""
    return [
        PreviewRow(person, rule.points, _blocked(rule, person, community_ids, now))
        for person in chosen
    ]


def count_use(rule: DeedRule, person: Person, period: str, ceiling: int | None) -> bool:
    """Count one more use of the rule for the person in the period, unless that passes
    `ceiling` (one atomic upsert: parallel uses cannot pass it together)."""
    keys = {"rule_id": rule.id, "person_id": person.id, "period": period}
    return add_to_counter(table_of(DeedCount), keys, "used", 1, ceiling)


class _AlreadyPosted(Exception):
    """Raised inside a savepoint to undo counters when the key was posted before."""


@dataclass
class AwardResult:
    person: Person
    points: int
    status: str  # 'awarded', 'already' (posted before under this key) or 'skipped'
    reason: str = ""
    transaction_id: int | None = None  # the posting, when awarded


def award_many(
    rule: DeedRule,
    chosen: list[Person],
    *,
    batch_key: str,
    note: str,
    actor: Person,
    community_ids: set[int] | None,
    now: datetime,
    source: str = "panel",
) -> list[AwardResult]:
    """Award the rule to each chosen person who is not blocked; report on everyone."""
    if not rule.active:
        raise BusinessRuleError(_l("This rule is switched off."), field="rule")
    if rule.deducts:
        raise BusinessRuleError(_l("This rule deducts points; it awards none."), field="rule")
    note = one_line(
        note,
        field="note",
        max_length=MAX_NOTE,
        required=None,
        too_long=_l("The note is longer than %(max)s characters."),
    )
    if rule.evidence_required and not note:
        raise InvalidInput(
            _l("This deed needs evidence: describe what was done, or where the photo is."),
            field="note",
        )
    if not batch_key or len(batch_key) > 60:
        raise InvalidInput(_l("An idempotency key is required."), field="batch_key")
    day, month = periods(now)
    results = []
    for person in chosen:
        key = f"deed:{batch_key}:{person.id}"
        if db.session.scalar(sa.select(LedgerTransaction.id).filter_by(idempotency_key=key)):
            results.append(AwardResult(person, rule.points, "already"))
            continue
        blocked = _blocked(rule, person, community_ids, now)
        if blocked:
            results.append(AwardResult(person, rule.points, "skipped", blocked))
            continue
        try:
            with db.session.begin_nested():
                if not count_use(rule, person, day, rule.daily_limit) or not count_use(
                    rule, person, month, rule.monthly_limit
                ):
                    raise BusinessRuleError(_l("The limit for this deed is reached."))
                reason = rule.title + (f"（{note}）" if note else "")
                txn = awards.award(
                    person,
                    rule.points,
                    reason=reason[:200],
                    idempotency_key=key,
                    now=now,
                    actor=actor,
                    source=source,
                    kind="deed",
                )
                if txn.replayed:  # a parallel confirm of the same batch posted it
                    raise _AlreadyPosted
                db.session.add(
                    DeedAward(
                        rule_id=rule.id,
                        person_id=person.id,
                        transaction_id=txn.id,
                        points=rule.points,
                        note=note,
                        actor_id=actor.id,
                        created_at=now,
                    )
                )
                db.session.flush()
        except _AlreadyPosted:
            results.append(AwardResult(person, rule.points, "already"))
        except LinliError as exc:
            results.append(AwardResult(person, rule.points, "skipped", str(exc)))
        else:
            results.append(AwardResult(person, rule.points, "awarded", transaction_id=txn.id))
    return results


# --- adjustments (maker-checker) ----------------------------------------------------------


def approval_threshold() -> int:
    return current_app.config["ADJUSTMENT_APPROVAL_THRESHOLD"]


GIVING_WINDOW = timedelta(hours=24)


def given_recently(maker: Person, person: Person, now: datetime) -> int:
    """Points `maker` alone gave `person` by adjustments and awards in the last 24 hours.

    The approval threshold holds for this sum, not for each correction, so three of 200
    are not 600 without a second person. The person's row is locked first (PostgreSQL;
    SQLite writers are serial already), so two proposals at once are summed in turn.
    """
    db.session.execute(sa.select(Person.id).where(Person.id == person.id).with_for_update())
    wallet = ledger.find_wallet(person)
    if wallet is None:
        return 0
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
            .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
            .where(
                LedgerEntry.account_id == wallet.id,
                LedgerEntry.amount > 0,
                LedgerTransaction.actor_id == maker.id,
                LedgerTransaction.kind.in_(("adjustment", "award")),
                LedgerTransaction.created_at > now - GIVING_WINDOW,
            )
        )
        or 0
    )


def needs_second_person(maker: Person, person: Person, points: int, now: datetime) -> bool:
    """Whether `points` from `maker` to `person` pass the approval threshold: by themselves
    (either way), or added to what the maker gave the person in the last 24 hours."""
    threshold = approval_threshold()
    if abs(points) > threshold:
        return True
    return points > 0 and given_recently(maker, person, now) + points > threshold


def check_direct_award(maker: Person, person: Person, points: int, now: datetime) -> None:
    """An award without a second person stays within the threshold over 24 hours."""
    if needs_second_person(maker, person, points, now):
        raise BusinessRuleError(
            _l(
                "More than %(n)s points from you to one person within 24 hours need a second "
                "staff member: propose an adjustment (POST /api/v1/adjustments) instead."
            ),
            field="points",
            n=approval_threshold(),
        )


def last_month_open(community_id: int, now: datetime) -> str | None:
    """Last month's key ('M2026-10') while a correction may still count in it: its statement
    for the community is not published (a published month never changes). None after."""
    from app.models import Statement

    month = ledger.previous_month(now)
    published = db.session.scalar(
        sa.select(Statement.id).where(
            Statement.community_id == community_id,
            Statement.month == month.removeprefix("M"),
            Statement.status == "published",
        )
    )
    return None if published else month


def _post_adjustment(
    adjustment: Adjustment, *, actor: Person, now: datetime, notify: bool = True
) -> None:
    person = adjustment.person
    issuance = ledger.issuance_account(org.community_by_id(person.community_id))
    wallet = ledger.wallet_for(person)
    # Made up for last month: counted there if the month is still open now, else this month
    # (its statement was published while the correction waited for a second person).
    asked, community_id = adjustment.counts_in, person.community_id
    still_open = last_month_open(community_id, now) if asked and community_id else None
    counts_in = asked if asked and asked == still_open else None
    txn = ledger.post(
        kind="adjustment",
        legs=[
            ledger.Leg(issuance, -adjustment.points),
            ledger.Leg(wallet, adjustment.points),
        ],
        idempotency_key=f"adjustment:{adjustment.idempotency_key}",
        now=now,
        memo=adjustment.reason,
        actor=actor,
        may_exceed_budget=actor.has_role("admin"),
        counts_in=counts_in,
    )
    adjustment.counts_in = counts_in
    adjustment.transaction_id = txn.id
    adjustment.status = "posted"
    if notify and not txn.replayed:
        outbox.tell(
            person,
            "adjustment",
            _l(
                "Linli: your points were corrected by %(points)+d; your balance is now "
                "%(balance)s. Reason: %(reason)s"
            ),
            now=now,
            points=adjustment.points,
            reason=adjustment.reason,
            balance=ledger.balance(wallet),
        )


def propose_adjustment(
    person: Person,
    points: int,
    *,
    reason: str,
    maker: Person,
    community_ids: set[int] | None,
    idempotency_key: str,
    now: datetime,
    source: str = "panel",
    for_last_month: bool = False,
    notify: bool = True,
) -> Adjustment:
    """A correction; posted at once up to the threshold, else it waits for a second person.

    `for_last_month`: it makes up for something missed last month (补记上月漏记), so it counts
    there, on last month's board and statement, while that month's statement is unpublished.
    The resident is told when it posts (`notify`: unless the caller tells them itself).
    """
    if type(points) is not int or points == 0 or abs(points) > 100_000:
        raise InvalidAmount(
            _l("The correction must be a whole number of points other than zero."),
            field="points",
        )
    reason = one_line(
        reason,
        field="reason",
        max_length=200,
        required=_l("A reason is required."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    if person.community_id is None or (
        community_ids is not None and person.community_id not in community_ids
    ):
        raise NotPermitted(_l("This person lives outside your communities."), field="person")
    counts_in = None
    if for_last_month:
        counts_in = last_month_open(person.community_id, now)
        if counts_in is None:
            raise BusinessRuleError(
                _l("Last month's statement is published: a correction now counts in this month."),
                field="counts_in",
            )
    found = db.session.scalar(sa.select(Adjustment).filter_by(idempotency_key=idempotency_key))
    if found is not None:
        if (found.person_id, found.points, found.reason) != (person.id, points, reason):
            raise IdempotencyConflict(field="idempotency_key")
        found.replayed = True
        return found
    adjustment = Adjustment(
        person_id=person.id,
        points=points,
        reason=reason,
        status="pending",
        idempotency_key=idempotency_key,
        maker_id=maker.id,
        created_at=now,
        counts_in=counts_in,
    )
    db.session.add(adjustment)
    db.session.flush()
    if not needs_second_person(maker, person, points, now):
        _post_adjustment(adjustment, actor=maker, now=now, notify=notify)
        adjustment.decided_at = now
    else:
        _ask_for_approval(adjustment, now)
    db.session.flush()
    audit.record(
        "adjustment.propose",
        adjustment,
        actor=maker,
        source=source,
        now=now,
        after={
            "person_id": person.id,
            "points": points,
            "status": adjustment.status,
            "counts_in": adjustment.counts_in,
        },
        reason=reason,
    )
    return adjustment


def _ask_for_approval(adjustment: Adjustment, now: datetime) -> None:
    """Tell the other staff of the person's community that a second approver is needed."""
    from app.people import people

    colleagues = people.staff_of(adjustment.person.community_id, besides=adjustment.maker_id)
    for colleague in colleagues:
        outbox.tell(
            colleague,
            "approval_needed",
            _l(
                "Approval needed: %(maker)s proposes %(points)+d points for %(name)s (%(reason)s). "
                "Open the approvals page of the Linli panel."
            ),
            now=now,
            maker=adjustment.maker.name,
            points=adjustment.points,
            name=adjustment.person.name,
            reason=adjustment.reason,
        )


def decide_adjustment(
    adjustment: Adjustment,
    *,
    approve: bool,
    checker: Person,
    community_ids: set[int] | None,
    note: str,
    now: datetime,
) -> Adjustment:
    """The second staff member approves (the points post) or rejects (with a note)."""
    if adjustment.status != "pending":
        raise BusinessRuleError(_l("This adjustment was already decided."), field="adjustment")
    if checker.id == adjustment.maker_id:
        raise NotPermitted(
            _l("Someone other than the person who proposed it must approve it."),
            field="adjustment",
        )
    if community_ids is not None and adjustment.person.community_id not in community_ids:
        raise NotPermitted(_l("This person lives outside your communities."), field="person")
    note = " ".join((note or "").split())[:200]
    if not approve and not note:
        raise InvalidInput(_l("Say why it is rejected."), field="note")
    adjustment.checker_id = checker.id
    adjustment.decided_at = now
    adjustment.decision_note = note
    if approve:
        _post_adjustment(adjustment, actor=checker, now=now)
    else:
        adjustment.status = "rejected"
        outbox.tell(
            adjustment.person,
            "adjustment",
            _l(
                "Linli: a correction of %(points)+d points for you (%(reason)s) was not "
                "approved. Why: %(note)s"
            ),
            now=now,
            points=adjustment.points,
            reason=adjustment.reason,
            note=note,
        )
    db.session.flush()
    audit.record(
        "adjustment.approve" if approve else "adjustment.reject",
        adjustment,
        actor=checker,
        source="panel",
        now=now,
        before={"status": "pending"},
        after={"status": adjustment.status, "points": adjustment.points},
        reason=note,
    )
    return adjustment


def pending_adjustments_query(community_ids: set[int] | None) -> sa.Select:
    """Corrections waiting for a second worker, of residents of these communities."""
    query = (
        sa.select(Adjustment)
        .join(Person, Adjustment.person_id == Person.id)
        .where(Adjustment.status == "pending")
    )
    if community_ids is not None:
        query = query.where(Person.community_id.in_(community_ids))
    return query


def pending_adjustments(community_ids: set[int] | None) -> list[Adjustment]:
    query = pending_adjustments_query(community_ids).order_by(Adjustment.created_at)
    return list(db.session.scalars(query))


def get_adjustment(adjustment_id: int) -> Adjustment:
    adjustment = db.session.get(Adjustment, adjustment_id)
    if adjustment is None:
        raise NotFound(_l("There is no such adjustment."), field="adjustment")
    return adjustment
