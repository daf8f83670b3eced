"""The boards' histograms (BoardCount): how many wallets of the street and of each community
earned each amount in a period, among the people shown on the boards.

Kept by the ledger in the posting transaction (a wallet's period total moving from one
amount to another moves one count), so a rank read from them is exact, as of the last
commit. "My rank" at a million residents is then a sum over a few thousand rows, not a
count of half a million people. Grids and teams are small and are ranked straight from the
period totals (app.points.rankings).

People who opted out of the boards are not counted (a rank is among the people shown; the
person asking is added back for their own private rank), so reading a rank never has to
look for them. Only the ledger calls `record` and `move`; `rebuild` recomputes the table
from the period totals (a migration, `flask rebuild-boards`, the bench seeder) and `check`
compares the two for `flask ledger-check`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import sqlalchemy as sa

from app.core.database import add_to_counters
from app.core.extensions import db
from app.models import Account, BoardCount, PeriodTotal, Person
from app.models.base import table_of

# Each amount's count is spread over this many rows by wallet id: two postings at once
# meet on one row only when both move a wallet of the same shard to or from the same amount.
SHARDS = 4
STREET = "street"
_KEYS = ("scope", "period", "amount", "shard")


def community_scope(community_id: int) -> str:
    return f"community:{community_id}"


def _scopes(community_id: int | None) -> tuple[str, ...]:
    return (STREET,) if community_id is None else (STREET, community_scope(community_id))


def record(moves: Iterable[tuple[Account, str, int, int]]) -> None:
    """Count wallets whose period total went from `before` to `after`: (wallet, period,
    before, after). Amounts of zero or less are on no board, and nor are the people who
    opted out of the boards. The caller has already locked the wallets (their balances
    were just updated), so a change of `hide_from_boards` cannot slip in between."""
    moves = list(moves)
    if not moves:
        return
    owners = {account.owner_id for account, *_rest in moves}
    hidden = set(
        db.session.scalars(
            sa.select(Person.id).where(Person.id.in_(owners), Person.hide_from_boards)
        )
    )
    deltas: Counter[tuple[str, str, int, int]] = Counter()
    for account, period, before, after in moves:
        if account.owner_id in hidden:
            continue
        shard = account.id % SHARDS
        for scope in _scopes(account.community_id):
            if before > 0:
                deltas[(scope, period, before, shard)] -= 1
            if after > 0:
                deltas[(scope, period, after, shard)] += 1
    _apply(deltas)


def move(account: Account, *, community_id: int | None, shown: bool | None = None) -> None:
    """The wallet's totals follow its owner: to another community's boards (the street's
    stay), or off every board (`shown` False) and back (None: as shown as they are now).
    Call with the wallet locked and before changing its community or its owner's
    `hide_from_boards`: whether they are shown now is read from the database under that
    lock, not from a person object another unit of work may have changed meanwhile."""
    was_shown = _shown(account)
    before = set(_scopes(account.community_id)) if was_shown else set()
    after = set(_scopes(community_id)) if (was_shown if shown is None else shown) else set()
    deltas: Counter[tuple[str, str, int, int]] = Counter()
    shard = account.id % SHARDS
    for period, amount in db.session.execute(
        sa.select(PeriodTotal.period, PeriodTotal.amount).where(
            PeriodTotal.account_id == account.id, PeriodTotal.amount > 0
        )
    ):
        for scope in before - after:
            deltas[(scope, period, amount, shard)] -= 1
        for scope in after - before:
            deltas[(scope, period, amount, shard)] += 1
    _apply(deltas)


def _shown(account: Account) -> bool:
    return not db.session.scalar(
        sa.select(Person.hide_from_boards).where(Person.id == account.owner_id)
    )


def _apply(deltas: Counter[tuple[str, str, int, int]]) -> None:
    # Sorted: every writer takes the rows it shares with another in the same order.
    rows = [
        dict(zip(_KEYS, key, strict=True), wallets=delta)
        for key, delta in sorted(deltas.items())
        if delta
    ]
    if rows:
        add_to_counters(table_of(BoardCount), _KEYS, "wallets", rows)


def _expected() -> sa.CompoundSelect:
    """What the table should hold, from the period totals: (scope, period, amount, shard,
    wallets). One pass over the shown wallets' totals counts them by community; the street
    is those few thousand rows summed, not a second pass."""
    t, a, p = PeriodTotal, Account, Person
    shard = (a.id % SHARDS).label("shard")
    hidden = sa.select(p.id).where(p.hide_from_boards)  # a partial index: the few who opted out
    per_community = (
        sa.select(a.community_id, t.period, t.amount, shard, sa.func.count().label("wallets"))
        .join(a, t.account_id == a.id)
        .where(
            t.account_kind == "wallet",
            t.amount > 0,
            a.owner_type == "person",
            a.owner_id.not_in(hidden),
        )
        .group_by(a.community_id, t.period, t.amount, sa.literal_column("shard"))
        .cte("per_community")
    )
    c = per_community.c
    street = sa.select(
        sa.literal(STREET).label("scope"),
        c.period,
        c.amount,
        c.shard,
        sa.cast(sa.func.sum(c.wallets), sa.Integer).label("wallets"),
    ).group_by(c.period, c.amount, c.shard)
    community = sa.select(
        (sa.literal("community:") + sa.cast(c.community_id, sa.String)).label("scope"),
        c.period,
        c.amount,
        c.shard,
        c.wallets,
    ).where(c.community_id.is_not(None))
    return sa.union_all(street, community)


def rebuild() -> int:
    """Recompute every count from the period totals; returns how many rows there are now.
    In the caller's transaction: on PostgreSQL readers see the old counts until it commits."""
    table = table_of(BoardCount)
    db.session.execute(sa.delete(table))
    expected = _expected().subquery("expected")
    db.session.execute(
        sa.insert(table).from_select(
            ["scope", "period", "amount", "shard", "wallets"],
            sa.select(
                expected.c.scope,
                expected.c.period,
                expected.c.amount,
                expected.c.shard,
                expected.c.wallets,
            ),
        )
    )
    return db.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0


def check() -> list[str]:
    """Where the kept counts differ from the period totals (shards summed), in words."""
    expected = _expected().subquery("expected")
    want = (
        sa.select(
            expected.c.scope,
            expected.c.period,
            expected.c.amount,
            sa.func.sum(expected.c.wallets).label("wallets"),
        )
        .group_by(expected.c.scope, expected.c.period, expected.c.amount)
        .subquery("want")
    )
    b = BoardCount
    have = (
        sa.select(b.scope, b.period, b.amount, sa.func.sum(b.wallets).label("wallets"))
        .group_by(b.scope, b.period, b.amount)
        .subquery("have")
    )
    kept = sa.func.coalesce(have.c.wallets, 0)
    wanted = sa.func.coalesce(want.c.wallets, 0)
    rows = db.session.execute(
        sa.select(
            sa.func.coalesce(want.c.scope, have.c.scope).label("scope"),
            sa.func.coalesce(want.c.period, have.c.period).label("period"),
            sa.func.coalesce(want.c.amount, have.c.amount).label("amount"),
            kept,
            wanted,
        )
        .select_from(want)
        .join(
            have,
            sa.and_(
                have.c.scope == want.c.scope,
                have.c.period == want.c.period,
                have.c.amount == want.c.amount,
            ),
            full=True,
        )
        .where(kept != wanted)
        .order_by(
            sa.literal_column("scope"), sa.literal_column("period"), sa.literal_column("amount")
        )
    )
    return [
        f"board {scope} period {period}: {held} wallets counted at {amount} points, "
        f"period totals give {actual}"
        for scope, period, amount, held, actual in rows
    ]
