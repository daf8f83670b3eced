"""The monthly settlement with red partners (结算).

For a month that has ended, each partner's redemptions and voids, points and money value
(each redemption keeps its offer's `money_value_fen`) are shown live as a preview; when
the street administrator closes the month they are frozen with a SHA-256, every
redemption of the month is marked as settled (no void after that), and one ledger
transaction per partner (kind `settlement`, key `settlement:<partner>:<month>`) clears
the partner's merchant account back to the issuance accounts of the communities whose
volunteers spent the points. So a merchant account shows only what is not settled yet.

A month closes once: two administrators closing it at the same moment make one
settlement (UNIQUE month; the second gets the first's).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.errors import BusinessRuleError, InvalidInput, NotFound, NotPermitted
from app.core.extensions import db
from app.models import Merchant, OrgUnit, Person, Redemption, Settlement, SettlementMonth
from app.partners import offers
from app.points import ledger

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass
class PartnerMonth:
    merchant: Merchant
    redemptions: int
    voids: int
    points: int
    money_value_fen: int
    lines: list[dict]
    by_community: list[dict]


def _check_month(month: str) -> str:
    if not _MONTH.match(month or ""):
        raise InvalidInput(_l("A month is written 2026-11."), field="month")
    return month


def _in_month(month: str):
    return Redemption.day.between(f"{month}-01", f"{month}-31")


def _hash(payload) -> str:
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _partner_month(merchant: Merchant, rows: list[Redemption]) -> PartnerMonth:
    by_offer: dict[int, dict] = {}
    by_community: dict[int | None, int] = defaultdict(int)
    for row in rows:
        line = by_offer.setdefault(
            row.offer_id,
            {
                "offer_id": row.offer_id,
                "title": row.offer.title,
                "redemptions": 0,
                "units": 0,
                "points": 0,
                "money_value_fen": 0,
                "voids": 0,
            },
        )
        if row.voided_at is not None:
            line["voids"] += 1
            continue
        line["redemptions"] += 1
        line["units"] += row.quantity
        line["points"] += row.points
        line["money_value_fen"] += row.money_value_fen or 0
        by_community[_community_of(row, merchant)] += row.points
    lines = sorted(by_offer.values(), key=lambda line: (line["title"], line["offer_id"]))
    names = {
        c.id: c.name
        for c in db.session.scalars(
            sa.select(OrgUnit).where(OrgUnit.id.in_([cid for cid in by_community if cid]))
        )
    }
    return PartnerMonth(
        merchant=merchant,
        redemptions=sum(line["redemptions"] for line in lines),
        voids=sum(line["voids"] for line in lines),
        points=sum(line["points"] for line in lines),
        money_value_fen=sum(line["money_value_fen"] for line in lines),
        lines=lines,
        by_community=[
            {"community_id": cid, "name": names.get(cid, "") if cid else "", "points": points}
            for cid, points in sorted(by_community.items(), key=lambda item: item[0] or 0)
        ],
    )


def _community_of(row: Redemption, merchant: Merchant) -> int | None:
    """The community that issued the points: the volunteer's when they spent them."""
    if row.community_id is not None:
        return row.community_id
    if row.person.community_id is not None:
        return row.person.community_id
    return merchant.communities[0].id if merchant.communities else None


def _rows(month: str, merchant_id: int | None = None, settlement_id: int | None = None):
    query = sa.select(Redemption).where(_in_month(month))
    if merchant_id is not None:
        query = query.where(Redemption.merchant_id == merchant_id)
    if settlement_id is not None:
        query = query.where(Redemption.settlement_id == settlement_id)
    # populate_existing: rows already in the session are read afresh (a void just committed)
    return list(
        db.session.scalars(query.order_by(Redemption.id).execution_options(populate_existing=True))
    )


def preview(month: str) -> list[PartnerMonth]:
    """Every partner's month as it stands (for a month not closed yet)."""
    _check_month(month)
    grouped: dict[int, list[Redemption]] = defaultdict(list)
    for row in _rows(month):
        grouped[row.merchant_id].append(row)
    merchants = db.session.scalars(sa.select(Merchant).where(Merchant.id.in_(list(grouped))))
    return sorted(
        (_partner_month(m, grouped[m.id]) for m in merchants), key=lambda pm: pm.merchant.name
    )


def closable(month: str, now: datetime) -> bool:
    return month < offers.local_month(now)


def close_month(month: str, *, actor: Person, now: datetime) -> SettlementMonth:
    """Close a month that has ended: freeze each partner's figures and clear its account.
    Closing a closed month returns it unchanged (also when two close it at once)."""
    _check_month(month)
    if not actor.has_role("admin"):
        raise NotPermitted(
            _l("Only the street administrator can close a month with the partners."),
            field="month",
        )
    if not closable(month, now):
        raise BusinessRuleError(
            _l("%(month)s has not ended yet; it can be closed from the 1st of next month."),
            field="month",
            month=month,
        )
    existing = get_month(month)
    if existing is not None:
        return existing
    closing = SettlementMonth(month=month, closed_at=now, closed_by_id=actor.id, content_hash="")
    try:
        with db.session.begin_nested():
            db.session.add(closing)
            db.session.flush()
    except IntegrityError:  # another administrator closed it at this moment
        found = get_month(month)
        if found is None:
            raise
        return found
    merchant_ids = sorted(
        set(db.session.scalars(sa.select(Redemption.merchant_id).where(_in_month(month))))
    )
    made = []
    for merchant in db.session.scalars(
        sa.select(Merchant).where(Merchant.id.in_(merchant_ids)).order_by(Merchant.id)
    ):
        made.append(_settle(closing, merchant, month, actor, now))
    closing.partners = len(made)
    closing.points = sum(s.points for s in made)
    closing.money_value_fen = sum(s.money_value_fen for s in made)
    closing.content_hash = _hash([[s.merchant_id, s.content_hash] for s in made])
    db.session.flush()
    audit.record(
        "settlement.close",
        closing,
        actor=actor,
        source="panel",
        now=now,
        after={
            "month": month,
            "partners": closing.partners,
            "points": closing.points,
            "money_value_fen": closing.money_value_fen,
            "hash": closing.content_hash,
        },
    )
    return closing


def _settle(
    closing: SettlementMonth, merchant: Merchant, month: str, actor: Person, now: datetime
) -> Settlement:
    settlement = Settlement(
        settlement_month_id=closing.id,
        merchant_id=merchant.id,
        month=month,
        lines=[],
        by_community=[],
        content_hash="",
        created_at=now,
    )
    db.session.add(settlement)
    db.session.flush()
    # Mark first: the rows are locked from here on, so a void at this moment either went
    # before (and is counted as a void) or waits and is then refused.
    db.session.execute(
        sa.update(Redemption)
        .where(
            Redemption.merchant_id == merchant.id,
            _in_month(month),
            Redemption.settlement_id.is_(None),
        )
        .values(settlement_id=settlement.id)
        .execution_options(synchronize_session=False)
    )
    rows = _rows(month, merchant.id, settlement.id)
    figures = _partner_month(merchant, rows)
    settlement.redemptions = figures.redemptions
    settlement.voids = figures.voids
    settlement.points = figures.points
    settlement.money_value_fen = figures.money_value_fen
    settlement.lines = figures.lines
    settlement.by_community = figures.by_community
    settlement.content_hash = _hash(
        {
            "merchant": merchant.id,
            "month": month,
            "lines": figures.lines,
            "by_community": figures.by_community,
        }
    )
    if figures.points:
        legs = [ledger.Leg(ledger.merchant_account(merchant), -figures.points)]
        for part in figures.by_community:
            community = db.session.get(OrgUnit, part["community_id"])
            if community is None:
                raise NotFound(_l("There is no such community."), field="community")
            legs.append(ledger.Leg(ledger.issuance_account(community), part["points"]))
        txn = ledger.post(
            kind="settlement",
            legs=legs,
            idempotency_key=f"settlement:{merchant.id}:{month}",
            now=now,
            memo=_("Settlement %(month)s with %(shop)s", month=month, shop=merchant.name),
            actor=actor,
        )
        settlement.transaction_id = txn.id
    db.session.flush()
    return settlement


def intact(item: Settlement | SettlementMonth) -> bool:
    """Whether frozen figures still match the hash they were closed with."""
    if isinstance(item, SettlementMonth):
        parts = db.session.scalars(
            sa.select(Settlement)
            .where(Settlement.settlement_month_id == item.id)
            .order_by(Settlement.merchant_id)
        ).all()
        return item.content_hash == _hash([[s.merchant_id, s.content_hash] for s in parts]) and all(
            intact(s) for s in parts
        )
    return item.content_hash == _hash(
        {
            "merchant": item.merchant_id,
            "month": item.month,
            "lines": item.lines,
            "by_community": item.by_community,
        }
    )


def get_month(month: str) -> SettlementMonth | None:
    return db.session.scalar(sa.select(SettlementMonth).where(SettlementMonth.month == month))


def of_month(closing: SettlementMonth) -> list[Settlement]:
    return list(
        db.session.scalars(
            sa.select(Settlement)
            .join(Merchant, Merchant.id == Settlement.merchant_id)
            .where(Settlement.settlement_month_id == closing.id)
            .order_by(Merchant.name)
        )
    )


def for_merchant(merchant: Merchant, limit: int = 24) -> list[Settlement]:
    return list(
        db.session.scalars(
            sa.select(Settlement)
            .where(Settlement.merchant_id == merchant.id)
            .order_by(Settlement.month.desc())
            .limit(limit)
        )
    )


def recent_months(now: datetime, count: int = 12) -> list[tuple[str, SettlementMonth | None]]:
    """The months that have ended, newest first, each with its closing (None: open)."""
    current = offers.local_month(now)
    year, number = int(current[:4]), int(current[5:])
    months = []
    for _i in range(count):
        number -= 1
        if number == 0:
            year, number = year - 1, 12
        months.append(f"{year:04d}-{number:02d}")
    closed = {
        c.month: c
        for c in db.session.scalars(
            sa.select(SettlementMonth).where(SettlementMonth.month.in_(months))
        )
    }
    return [(m, closed.get(m)) for m in months]
