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


@dataclass(frozen=True)
class BoardLine:
    position: int
    name: str  # masked, or "anonymous volunteer" for those who opted out
    earned: int


def community_top_this_month(community_id: int, now: datetime, limit: int = 10) -> list[BoardLine]:
    """The community's top earners this month (ties share a place), names masked."""
    from flask_babel import gettext as _

    from app.text import mask_name

    month = ledger.period_keys(now)[0]
    rows = db.session.execute(
        sa.select(Person.name, Person.hide_from_boards, PeriodTotal.amount)
        .join(Account, PeriodTotal.account_id == Account.id)
        .join(Person, sa.and_(Account.owner_type == "person", Account.owner_id == Person.id))
        .where(
            Account.kind == "wallet",
            Account.community_id == community_id,
            PeriodTotal.period == month,
            PeriodTotal.amount > 0,
        )
        .order_by(PeriodTotal.amount.desc(), Person.id)
        .limit(limit)
    ).all()
    lines, position, previous = [], 0, None
    for index, (name, hidden, amount) in enumerate(rows, 1):
        if amount != previous:
            position, previous = index, amount
        shown = _("anonymous volunteer") if hidden else mask_name(name)
        lines.append(BoardLine(position, shown, amount))
    return lines
