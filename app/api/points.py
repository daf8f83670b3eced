"""Points: awards and adjustments by staff, and the ledger lines of a wallet."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.api import bp
from app.api.base import (
    caller,
    describe,
    dump,
    field_error,
    is_staff,
    keyset,
    load_body,
    load_query,
    staff_scope,
    volunteer,
)
from app.api.idempotency import idempotent, service_key
from app.api.people import find_person
from app.api.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    AwardIn,
    AwardOut,
    LedgerPage,
    LedgerQuery,
)
from app.core import clock
from app.core.errors import BusinessRuleError, NotFound
from app.core.extensions import db
from app.models import LedgerEntry, LedgerTransaction
from app.points import awards, deeds, ledger


def _award_json(txn: LedgerTransaction, person, points: int, rule_id: int | None) -> dict:
    return dump(
        AwardOut,
        {
            "transaction_id": txn.id,
            "person_id": person.id,
            "points": points,
            "reason": txn.memo,
            "rule_id": rule_id,
            "balance": ledger.balance(ledger.wallet_for(person)),
            "created_at": txn.created_at,
        },
    )


@bp.post("/awards")
@describe(
    _l("Award points to a resident, by a deed rule or a number of points"),
    who=_l("staff"),
    body=AwardIn,
    answer=AwardOut,
    status=201,
    idempotent=True,
)
@idempotent
def create_award():
    scope = staff_scope()
    data = load_body(AwardIn)
    person = find_person(data, scope)
    actor, now = caller(), clock.now()
    key = service_key()
    if data.get("rule_id") is not None:
        rule = deeds.get_rule(data["rule_id"], scope)
        (result,) = deeds.award_many(
            rule,
            [person],
            batch_key=key,
            note=data.get("reason", ""),
            actor=actor,
            community_ids=scope,
            now=now,
            source="api",
        )
        if result.status == "skipped":
            raise BusinessRuleError(result.reason, field="rule_id")
        txn = db.session.scalar(
            sa.select(LedgerTransaction).filter_by(idempotency_key=f"deed:{key}:{person.id}")
        )
        return _award_json(txn, person, rule.points, rule.id), 201
    deeds.check_direct_award(actor, person, data["points"], now)
    txn = awards.award(
        person,
        data["points"],
        reason=data.get("reason", ""),
        idempotency_key=key,
        now=now,
        actor=actor,
        source="api",
        may_exceed_budget=actor.has_role("admin"),
    )
    return _award_json(txn, person, data["points"], None), 201


@bp.post("/adjustments")
@describe(
    _l("Correct a resident's points (above the threshold it waits for a second staff member)"),
    who=_l("staff"),
    body=AdjustmentIn,
    answer=AdjustmentOut,
    status=201,
    idempotent=True,
)
@idempotent
def create_adjustment():
    scope = staff_scope()
    data = load_body(AdjustmentIn)
    person = find_person(data, scope)
    adjustment = deeds.propose_adjustment(
        person,
        data["points"],
        reason=data["reason"],
        maker=caller(),
        community_ids=scope,
        idempotency_key=service_key(),
        now=clock.now(),
        source="api",
    )
    return dump(
        AdjustmentOut,
        {
            "id": adjustment.id,
            "person_id": person.id,
            "points": adjustment.points,
            "reason": adjustment.reason,
            "status": adjustment.status,
            "transaction_id": adjustment.transaction_id,
            "created_at": adjustment.created_at,
        },
    ), 201


@bp.get("/ledger")
@describe(
    _l("The ledger lines of a resident's wallet, newest first (keyset pages)"),
    who=_l("staff, volunteer (own)"),
    query=LedgerQuery,
    answer=LedgerPage,
)
def ledger_lines():
    query = load_query(LedgerQuery)
    person = caller()
    if is_staff(person):
        if query.get("person_id") is None:
            raise field_error("person_id", _("Say whose ledger: person_id."))
        person = find_person({"person_id": query["person_id"]}, staff_scope())
    else:
        person = volunteer()
        if query.get("person_id") not in (None, person.id):
            raise NotFound(_l("Nobody here has this id or phone number."), field="person_id")
    wallet = ledger.find_wallet(person)
    rows, next_cursor = [], None
    if wallet is not None:
        rows, next_cursor = keyset(
            sa.select(LedgerEntry, LedgerTransaction)
            .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
            .where(LedgerEntry.account_id == wallet.id),
            LedgerEntry.id,
            query,
        )
    return dump(
        LedgerPage,
        {
            "person_id": person.id,
            "balance": wallet.balance if wallet else 0,
            "items": [
                {
                    "id": entry.id,
                    "transaction_id": txn.id,
                    "kind": txn.kind,
                    "amount": entry.amount,
                    "memo": txn.memo,
                    "reverses_transaction_id": txn.reverses_id,
                    "created_at": txn.created_at,
                }
                for entry, txn in rows
            ],
            "next_cursor": next_cursor,
        },
    )
