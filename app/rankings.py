"""Ranks from the kept per-period totals (never a scan of the ledger)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.models import Account, PeriodTotal, Person


@dataclass(frozen=True)
class Rank:
    position: int | None  # None: nothing earned in the period, so not on the board
    earned: int
    of: int  # how many in the community earned anything in the period


def community_rank_this_month(person: Person, now: datetime) -> Rank:
    """The person's place among their community by points earned this month."""
    month = ledger.period_keys(now)[0]
    wallet = ledger.find_wallet(person)
    earned = ledger.period_total(wallet, month) if wallet else 0
    if person.community_id is None:
        return Rank(None, earned, 0)
    on_board = (
        sa.select(sa.func.count())
        .select_from(PeriodTotal)
        .join(Account, PeriodTotal.account_id == Account.id)
        .where(
            Account.kind == "wallet",
            Account.community_id == person.community_id,
            PeriodTotal.period == month,
            PeriodTotal.amount > 0,
        )
    )
    total = db.session.scalar(on_board)
    if earned <= 0:
        return Rank(None, earned, total)
    ahead = db.session.scalar(on_board.where(PeriodTotal.amount > earned))
    return Rank(ahead + 1, earned, total)
