"""Ranking boards from the kept per-period totals (never a scan of the ledger).

A board ranks people by points *earned* in a period (this month, last month, this year,
all time) within a scope (the street, a community, a grid, a team). Ties share a place
and the next place skips (1, 1, 3). Top-N reads straight off the wallets' (period, kind,
amount, account) index; "my rank" on the street's and a community's board reads their
histogram (app.points.board_counts), on a grid's or a team's it counts those ahead.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa

from app.core import clock
from app.core.extensions import db
from app.core.text import mask_name
from app.models import Account, BoardCount, OrgUnit, PeriodTotal, Person, TeamMember
from app.models.base import MAX_ID, table_of
from app.people import org
from app.points import honours, ledger

PERIODS = ("month", "last_month", "year", "all")
# A month's board with fewer people than this (its first days) is shown with last month's
# beside it: on the 1st the hall's TV would otherwise show almost no one.
FEW_ON_A_BOARD = 10
SCOPE_KINDS = ("street", "community", "grid", "team")


def period_key(period: str, now: datetime) -> str:
    month, year, all_time = ledger.period_keys(now)
    if period == "month":
        return month
    if period == "last_month":
        return ledger.previous_month(now)
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
        if kind in ("community", "grid", "team") and raw.isdigit() and 0 < int(raw) <= MAX_ID:
            return cls(kind, int(raw))
        return cls("street")

    def __str__(self) -> str:
        return self.kind if self.id is None else f"{self.kind}:{self.id}"


def _ranked(period_key_: str | sa.BindParameter[str], scope: Scope, *, besides: int | None = None):
    """The rows of a board: (person id, name, amount) for everyone shown who earned in the
    period.

    People who opted out are not on any public board, not even as "anonymous": a score
    beside a place would still single them out. `besides` adds one of them back, for their
    own private "my rank" (among the people shown).
    """
    # Tables, not the mapped classes: a plain Core statement, compiled once and cached,
    # whose rows are tuples (a board's top is read on every board page and TV refresh).
    t, p = table_of(PeriodTotal), table_of(Person)
    shown: sa.ColumnElement[bool] = p.c.hide_from_boards.is_(False)
    if besides is not None:
        shown = sa.or_(shown, p.c.id == besides)
    # The person straight from the totals' index (a household's wallet has none).
    query = (
        sa.select(p.c.id, p.c.name, t.c.amount)
        .select_from(t)
        .join(p, t.c.person_id == p.c.id)
        .where(
            t.c.account_kind == _written("wallet"),
            t.c.period == period_key_,
            t.c.amount > _written(0),
            shown,
        )
    )
    if scope.kind == "community":
        query = _in_community(query, scope.id)
    elif scope.kind == "grid":
        grid = db.session.get(OrgUnit, scope.id)
        # An unknown grid (an old link, a typed URL) has nobody on its board.
        query = query.where(
            org.subtree_filter(p.c.org_unit_id, grid) if grid is not None else sa.false()
        )
    elif scope.kind == "team":
        members = sa.select(table_of(TeamMember).c.person_id).where(
            table_of(TeamMember).c.team_id == scope.id
        )
        query = query.where(p.c.id.in_(members))
    return query


def _in_community(query, community: int | sa.BindParameter[int] | None):
    """A board's rows narrowed to the wallets of a community (where the wallet is: it moves
    with its person)."""
    t, a = table_of(PeriodTotal), table_of(Account)
    return query.join(a, t.c.account_id == a.c.id).where(a.c.community_id == community)


def _written(value: str | int) -> sa.BindParameter:
    """A constant written into the statement's text rather than sent as a parameter: the
    planner then sees what it is (see _top_of)."""
    return sa.bindparam(None, value, literal_execute=True)


def _in_board_order(query):
    # Ties in the index's order (newest wallet first): read straight off it, no sort.
    t = table_of(PeriodTotal)
    return query.order_by(t.c.amount.desc(), t.c.account_id.desc())


@functools.cache
def _top_of(kind: str) -> sa.Select:
    """The top of the street's or a community's board, built once: the boards and the
    hall's TV read it all day.

    The period and the length are written into the statement's text when it runs (a
    handful of values: this month, last month, this year, all time; 10 or 50), the
    community is bound. PostgreSQL then plans each text once per connection and reuses the
    plan: with them as parameters it judged the generic plan (a period's size unknown)
    dearer than planning afresh, and planned the three-table join on every call, which
    took longer than running it.
    """
    period = sa.bindparam("period", type_=sa.String, literal_execute=True)
    query = _ranked(period, Scope("street"))
    if kind == "community":
        query = _in_community(query, sa.bindparam("community"))
    return _in_board_order(query).limit(
        sa.bindparam("limit", type_=sa.Integer, literal_execute=True)
    )


class BoardLine(NamedTuple):  # a tuple: made fifty at a time on every board read
    position: int
    person_id: int
    name: str  # masked (张*明)
    earned: int
    honours: tuple[str, ...] = ()


def board(scope: Scope, period: str, now: datetime, limit: int = 50) -> list[BoardLine]:
    """The top of a board, masked names only; people who opted out are not on it."""
    key = period_key(period, now)
    if scope.kind in ("street", "community"):
        params = {"period": key, "limit": limit}
        if scope.kind == "community":
            params["community"] = scope.id
        # A plain Core statement: run on the session's connection, past the ORM's layer.
        rows = db.session.connection().execute(_top_of(scope.kind), params).all()
    else:
        rows = db.session.execute(_in_board_order(_ranked(key, scope)).limit(limit)).all()
    periods = [key[1:]] if key != "ALL" else []
    titles = honours.for_people([person_id for person_id, _name, _amount in rows], periods)
    lines, position, previous = [], 0, None
    for index, (person_id, name, amount) in enumerate(rows, 1):
        if amount != previous:
            position, previous = index, amount
        shown = tuple(titles.get(person_id, ()))
        lines.append(BoardLine(position, person_id, mask_name(name), amount, shown))
    return lines


def is_thin(lines: list[BoardLine]) -> bool:
    """Whether a month's board has too few people to show alone (its first days): last
    month's goes beside it. `lines` need be no longer than FEW_ON_A_BOARD to tell."""
    return len(lines) < FEW_ON_A_BOARD


@dataclass(frozen=True)
class Rank:
    position: int | None  # None: nothing earned in the period, so not on the board
    earned: int
    of: int  # how many earned anything in the period in this scope
    to_next: int | None = None  # points to pass the next place up (None at the top)


def rank_of(person: Person, scope: Scope, period: str, now: datetime) -> Rank:
    key = period_key(period, now)
    wallet, earned = ledger.wallet_and_total(person, key)
    if scope.kind in ("street", "community"):
        return _counted_rank(person, wallet, scope, key, earned)
    return exact_rank(person, scope, key, earned)


def exact_rank(person: Person, scope: Scope, key: str, earned: int) -> Rank:
    """The rank straight from the period totals, in one pass over the board: how many are on
    it, how many are ahead, the next place's score. Grids and teams (hundreds of people) are
    ranked this way; for the street and communities it is what the counts must agree with."""
    ranked = _ranked(key, scope, besides=person.id).subquery()
    ahead_of_me = ranked.c.amount > earned
    total, ahead, above = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((ahead_of_me, 1), else_=0)), 0),
            sa.func.min(sa.case((ahead_of_me, ranked.c.amount))),
        ).select_from(ranked)
    ).one()
    total, ahead = int(total or 0), int(ahead or 0)
    if earned <= 0:
        return Rank(None, earned, total)
    return Rank(ahead + 1, earned, total, (above - earned) if above is not None else None)


def _counted_rank(person: Person, wallet, scope: Scope, key: str, earned: int) -> Rank:
    """The rank from the board's histogram (app.points.board_counts): how many shown people
    are on the board, how many are ahead, the lowest amount above mine, in one aggregate
    over a few thousand rows at most. The histogram holds only people shown on the boards;
    someone who opted out gets their place among them (and is counted in the "of")."""
    b = BoardCount
    above_me = b.amount > earned
    total, ahead, next_up = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(b.wallets), 0),
            sa.func.coalesce(sa.func.sum(sa.case((above_me, b.wallets), else_=0)), 0),
            sa.func.min(sa.case((sa.and_(above_me, b.wallets > 0), b.amount))),
        ).where(b.scope == str(scope), b.period == key)
    ).one()
    total, ahead = int(total), int(ahead)
    in_scope = wallet is not None and (scope.kind == "street" or wallet.community_id == scope.id)
    if person.hide_from_boards and earned > 0 and in_scope:
        total += 1
    if earned <= 0:
        return Rank(None, earned, total)
    return Rank(ahead + 1, earned, total, (next_up - earned) if next_up is not None else None)


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


# --- boards of groups: households (家风指数), teams, grids by participation ---------------


@dataclass(frozen=True)
class GroupLine:
    position: int
    name: str
    score: float  # points per member, points, or a share in percent
    members: int


def _places(rows: list[tuple[str, float, int]]) -> list[GroupLine]:
    rows = sorted(rows, key=lambda row: (-row[1], row[0]))
    lines, position, previous = [], 0, None
    for index, (name, score, members) in enumerate(rows, 1):
        if score != previous:
            position, previous = index, score
        lines.append(GroupLine(position, name, score, members))
    return lines


def household_board(community_id: int, period: str, now: datetime, limit: int = 50):
    """家风指数: points the household's members earned in the period, per member.

    Members who opted out of the boards are left out (their points and their head count):
    in a household of two, the score would otherwise be theirs.
    """
    key = period_key(period, now)
    members = dict(
        db.session.execute(
            sa.select(Person.org_unit_id, sa.func.count())
            .join(OrgUnit, Person.org_unit_id == OrgUnit.id)
            .where(
                OrgUnit.kind == "household",
                OrgUnit.community_id == community_id,
                Person.hide_from_boards.is_(False),
            )
            .group_by(Person.org_unit_id)
        ).all()
    )
    earned = db.session.execute(
        sa.select(Person.org_unit_id, sa.func.sum(PeriodTotal.amount))
        .select_from(PeriodTotal)
        .join(Account, PeriodTotal.account_id == Account.id)
        .join(Person, sa.and_(Account.owner_type == "person", Account.owner_id == Person.id))
        .where(
            Account.kind == "wallet",
            PeriodTotal.period == key,
            Person.org_unit_id.in_(list(members)),
            Person.hide_from_boards.is_(False),
        )
        .group_by(Person.org_unit_id)
    ).all()
    names = _household_names([unit for unit, _total in earned if unit is not None])
    rows = [
        (names.get(unit, ""), round(total / members[unit], 1), members[unit])
        for unit, total in earned
        if unit is not None and total and total > 0
    ]
    return _places(rows)[:limit]


def _household_names(ids: list[int]) -> dict[int, str]:
    """'3号楼 1单元 1**' for each household: the building and unit, and the room masked but
    for its first character (the floor), which the household recognises and the public
    cannot turn into an address. Never a resident's name."""
    names = {}
    for household in db.session.scalars(sa.select(OrgUnit).where(OrgUnit.id.in_(ids))):
        trail = [n.name for n in org.ancestors(household) if n.kind in ("building", "unit")]
        room = household.name
        trail.append(room[:1] + "*" * (len(room) - 1))
        names[household.id] = " ".join(trail)
    return names


def team_board(community_id: int, period: str, now: datetime, limit: int = 50):
    """Teams by the points their members (those shown on boards) earned in the period."""
    from app.models import Team

    key = period_key(period, now)
    rows = db.session.execute(
        sa.select(
            Team.name,
            sa.func.coalesce(sa.func.sum(PeriodTotal.amount), 0),
            sa.func.count(TeamMember.person_id.distinct()),
        )
        .select_from(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        # Members who opted out are left out here too (a team of two would show them).
        .join(
            Person, sa.and_(Person.id == TeamMember.person_id, Person.hide_from_boards.is_(False))
        )
        .join(
            Account,
            sa.and_(
                Account.owner_type == "person",
                Account.owner_id == TeamMember.person_id,
                Account.kind == "wallet",
            ),
        )
        .outerjoin(
            PeriodTotal, sa.and_(PeriodTotal.account_id == Account.id, PeriodTotal.period == key)
        )
        .where(Team.community_id == community_id)
        .group_by(Team.id, Team.name)
    ).all()
    return _places([(name, int(total), count) for name, total, count in rows if total > 0])[:limit]


def grid_participation(community_id: int, now: datetime) -> list[GroupLine]:
    """Grids by the share of their residents with a verified activity this month."""
    from app.models import Attendance

    local = clock.local(now, None)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    grids = list(
        db.session.scalars(
            sa.select(OrgUnit).where(OrgUnit.kind == "grid", OrgUnit.community_id == community_id)
        )
    )
    rows = []
    for grid in grids:
        residents = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Person)
            .where(org.subtree_filter(Person.org_unit_id, grid))
        )
        if not residents:
            continue
        active = db.session.scalar(
            sa.select(sa.func.count(Attendance.person_id.distinct()))
            .join(Person, Attendance.person_id == Person.id)
            .where(
                Attendance.status == "approved",
                Attendance.checked_in_at >= month_start,
                org.subtree_filter(Person.org_unit_id, grid),
            )
        )
        rows.append((grid.name, round(100 * (active or 0) / residents, 1), residents))
    return _places(rows)
