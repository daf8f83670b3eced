"""Ranking boards from the kept per-period totals (never a scan of the ledger).

A board ranks people by points *earned* in a period (this month, last month, this year,
all time) within a scope (the street, a community, a grid, a team). Ties share a place
and the next place skips (1, 1, 3). Top-N reads the (period, amount) index; "my rank" is
one count of those ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from app import clock, honours, ledger, org
from app.extensions import db
from app.models import Account, OrgUnit, PeriodTotal, Person, TeamMember
from app.text import mask_name

PERIODS = ("month", "last_month", "year", "all")
SCOPE_KINDS = ("street", "community", "grid", "team")


def period_key(period: str, now: datetime) -> str:
    month, year, all_time = ledger.period_keys(now)
    if period == "month":
        return month
    if period == "last_month":
        local = clock.local(now, None)
        y, m = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
        return f"M{y:04d}-{m:02d}"
    if period == "year":
        return year
    if period == "all":
        return all_time
    raise ValueError(period)


@dataclass(frozen=True)
class Scope:
    kind: str  # street | community | grid | team
    id: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> Scope:
        """'community:3', 'grid:12', 'team:4' or 'street'; anything else is the street."""
        kind, _sep, raw = (text or "street").partition(":")
        if kind in ("community", "grid", "team") and raw.isdigit():
            return cls(kind, int(raw))
        return cls("street")

    def __str__(self) -> str:
        return self.kind if self.id is None else f"{self.kind}:{self.id}"


def _ranked(period_key_: str, scope: Scope):
    """The rows of a board: (person, amount) for everyone who earned in the period."""
    query = (
        sa.select(Person, PeriodTotal.amount)
        .select_from(PeriodTotal)
        .join(Account, PeriodTotal.account_id == Account.id)
        .join(Person, sa.and_(Account.owner_type == "person", Account.owner_id == Person.id))
        .where(Account.kind == "wallet", PeriodTotal.period == period_key_, PeriodTotal.amount > 0)
    )
    if scope.kind == "community":
        query = query.where(Account.community_id == scope.id)
    elif scope.kind == "grid":
        grid = db.session.get(OrgUnit, scope.id)
        query = query.where(org.subtree_filter(Person.org_unit_id, grid))
    elif scope.kind == "team":
        members = sa.select(TeamMember.person_id).where(TeamMember.team_id == scope.id)
        query = query.where(Person.id.in_(members))
    return query


@dataclass(frozen=True)
class BoardLine:
    position: int
    person_id: int
    name: str  # masked, or "anonymous volunteer" for those who opted out
    earned: int
    honours: tuple[str, ...] = ()


def shown_name(person: Person) -> str:
    return _("anonymous volunteer") if person.hide_from_boards else mask_name(person.name)


def board(scope: Scope, period: str, now: datetime, limit: int = 50) -> list[BoardLine]:
    """The top of a board; people who opted out are counted but shown anonymously."""
    rows = db.session.execute(
        _ranked(period_key(period, now), scope)
        .order_by(PeriodTotal.amount.desc(), Person.id)
        .limit(limit)
    ).all()
    key = period_key(period, now)
    periods = [key[1:]] if key != "ALL" else []
    titles = honours.for_people([person.id for person, _amount in rows], periods)
    lines, position, previous = [], 0, None
    for index, (person, amount) in enumerate(rows, 1):
        if amount != previous:
            position, previous = index, amount
        shown = tuple(titles.get(person.id, ())) if not person.hide_from_boards else ()
        lines.append(BoardLine(position, person.id, shown_name(person), amount, shown))
    return lines


@dataclass(frozen=True)
class Rank:
    position: int | None  # None: nothing earned in the period, so not on the board
    earned: int
    of: int  # how many earned anything in the period in this scope
    to_next: int | None = None  # points to pass the next place up (None at the top)


def rank_of(person: Person, scope: Scope, period: str, now: datetime) -> Rank:
    key = period_key(period, now)
    wallet = ledger.find_wallet(person)
    earned = ledger.period_total(wallet, key) if wallet else 0
    ranked = _ranked(key, scope).subquery()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(ranked))
    if earned <= 0:
        return Rank(None, earned, total)
    ahead = db.session.scalar(
        sa.select(sa.func.count()).select_from(ranked).where(ranked.c.amount > earned)
    )
    above = db.session.scalar(
        sa.select(sa.func.min(ranked.c.amount)).where(ranked.c.amount > earned)
    )
    return Rank(ahead + 1, earned, total, (above - earned) if above is not None else None)


# --- the shapes the home page and the chat use ---------------------------------------------


def community_rank_this_month(person: Person, now: datetime) -> Rank:
    """The person's place among their community by points earned this month."""
    if person.community_id is None:
        wallet = ledger.find_wallet(person)
        earned = ledger.earned_this_month(wallet, now) if wallet else 0
        return Rank(None, earned, 0)
    return rank_of(person, Scope("community", person.community_id), "month", now)


def community_top_this_month(community_id: int, now: datetime, limit: int = 10) -> list[BoardLine]:
    return board(Scope("community", community_id), "month", now, limit)
