"""Awarding points: from a community's issuance account into a resident's wallet."""

from __future__ import annotations

from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.channels import outbox
from app.core import audit
from app.core.errors import BusinessRuleError, InvalidAmount
from app.core.text import one_line
from app.models import LedgerTransaction, OrgUnit, Person
from app.people import org
from app.points import deductions, ledger

MAX_AWARD = 100_000
MAX_REASON = 200


def award(
    person: Person,
    points: int,
    *,
    reason: str,
    idempotency_key: str,
    now: datetime,
    actor: Person | None,
    source: str,
    kind: str = "award",
    may_exceed_budget: bool = False,
    notify: bool = True,
    community: OrgUnit | None = None,
) -> LedgerTransaction:
    """Issue `points` to a resident, tell them, and log who did it.

    The points come from `community` (an activity's community) or else the person's own.
    """
    if type(points) is not int or points <= 0:
        raise InvalidAmount(
            _l("Points to award must be a whole number above zero."), field="points"
        )
    if points > MAX_AWARD:
        raise InvalidAmount(
            _l("No more than %(max)s points can be awarded at once."), field="points", max=MAX_AWARD
        )
    reason = one_line(
        reason,
        field="reason",
        max_length=MAX_REASON,
        required=_l("A reason is required."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    if community is None and person.community_id is None:
        raise BusinessRuleError(
            _l("%(name)s does not belong to a community, so no community can award points."),
            field="person",
            name=person.name,
        )
    community = community or org.community_by_id(person.community_id)
    wallet = ledger.wallet_for(person)
    txn = ledger.post(
        kind=kind,
        legs=[
            ledger.Leg(ledger.issuance_account(community), -points),
            ledger.Leg(wallet, points),
        ],
        idempotency_key=idempotency_key,
        now=now,
        memo=reason,
        actor=actor,
        may_exceed_budget=may_exceed_budget,
    )
    if not txn.replayed:
        audit.record(
            "points.award",
            txn,
            actor=actor,
            source=source,
            now=now,
            after={"person_id": person.id, "points": points},
            reason=reason,
        )
    # What the person owes on deductions (扣分) comes out of what they just earned.
    owed_taken = 0 if txn.replayed else deductions.collect_owed(person, txn, now=now)
    if not txn.replayed and notify:
        with force_locale(person.locale):
            body = _(
                "You received %(points)s points: %(reason)s. Your balance is now %(balance)s.",
                points=points,
                reason=reason,
                balance=ledger.balance(wallet),
            )
            if owed_taken:
                body += " " + _("%(owed)s of them went to a deduction you owed.", owed=owed_taken)
        outbox.queue(person=person, kind="points_earned", body=body, now=now)
    return txn
