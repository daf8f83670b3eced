"""PostgreSQL's quick proof that the ledger holds, for `flask ledger-check`.

Each invariant the check verifies row by row (app.points.ledger.check) is an equality of
two sets of sums: what the entries give per transaction, per account, per account and
period, per reversal pair, against what is kept (zero, the cached balances, the period
totals, the control counts, the boards' counts). Two such sets are equal exactly when every
random weighting of them has equal totals, and for a weighting drawn afresh on each run
(a seeded 64-bit hash of the key, modulo a prime p of 31 bits, itself drawn at random)
unequal sets give equal totals with probability about 1/p (10⁻⁹); a difference that is a
multiple of p is caught by the next run's other prime (any given difference is a multiple of
at most two of the 50 million candidates). So instead of grouping two million entries by
transaction and again by account and month, and joining those groups to what is kept, the
proof reads each table once, summing weighted amounts, with no GROUP BY and no join bigger
than a few thousand rows: one pass over the entries, one over the transactions, one over
the accounts, one over the period totals with their accounts, one over the boards' counts.

`failing()` names the invariants whose totals disagree; the check then runs only those
row-by-row queries, which say what exactly is wrong. A clean ledger never runs them. SQLite
has no seeded hash functions: there the check always runs row by row. What the proof takes
from the schema rather than checking: a reversal's original exists (a foreign key).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from app.core.clock import ALL_TIME
from app.core.extensions import db

P = ":p"  # the run's prime, below 2**31: a weighted amount (< 2**62) fits in a bigint

# One seed per weighting, drawn afresh on every run.
SEEDS = ("txn", "count", "balance", "period", "pair", "pair_count", "board")


def _mod(expression: str) -> str:
    """The expression modulo P, in [0, P), in 64-bit arithmetic."""
    return f"((CAST({expression} AS BIGINT) % {P} + {P}) % {P})"


def _weight(*keys: str, seed: str) -> str:
    """A weight in [0, P) for a key: integer SQL expressions, the last one possibly text
    (written "text:<expression>"), hashed with the run's seed."""
    *numbers, last = keys
    if last.startswith("text:"):
        hashed = f"hashtextextended({last.removeprefix('text:')}, :{seed})"
    else:
        hashed = f"hashint8extended({last}, :{seed})"
    for number in reversed(numbers):
        hashed = f"hashint8extended({number}, {hashed})"
    return _mod(hashed)


def random_prime() -> int:
    """A prime drawn at random from [2**30, 2**31)."""
    while True:
        candidate = (2**30 + secrets.randbelow(2**30)) | 1
        if is_prime(candidate):
            return candidate


def is_prime(n: int) -> bool:
    """Miller–Rabin with the bases 2, 7 and 61, which decide every n below 2**32."""
    if n < 2:
        return False
    for small in (2, 3, 5, 7, 61):
        if n % small == 0:
            return n == small
    d, twos = n - 1, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    for base in (2, 7, 61):
        x = pow(base, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(twos - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def failing() -> set[str]:
    """The invariants whose weighted totals disagree on this ledger, by the names
    ledger.check gives them: transactions, balances, reversals, periods, boards."""
    prime = random_prime()
    seeds = {name: secrets.randbelow(2**62) for name in SEEDS} | {"p": prime}
    amount = _mod("e.amount")
    month, year = "text:e.earned_in", "text:('Y' || substr(e.earned_in, 2, 4))"
    in_periods = " + ".join(
        _weight("e.account_id", key, seed="period")
        for key in (month, year, "text:CAST(:all AS TEXT)")
    )

    def in_pair(pair: str, seed: str) -> str:
        return (
            f"CASE WHEN {pair} IS NULL THEN 0 ELSE {_weight(pair, 'e.account_id', seed=seed)} END"
        )

    entries = db.session.execute(
        sa.text(
            # Each transaction in a reversal pair, once: the pair it reverses in (r), the
            # pair it is reversed in (o); both for a reversal reversed in its turn.
            "WITH linked AS (SELECT id AS txn, id AS r, NULL AS o FROM ledger_transactions "
            "WHERE reverses_id IS NOT NULL UNION ALL SELECT reverses_id, NULL, id "
            "FROM ledger_transactions WHERE reverses_id IS NOT NULL), "
            "pairs AS (SELECT txn, max(r) AS r, max(o) AS o FROM linked GROUP BY txn) "
            # Every transaction sums to zero: weighted by transaction, the total is zero.
            f"SELECT sum({amount} * {_weight('e.transaction_id', seed='txn')}) % {P}, "
            # As many entries per transaction as it was posted with (the control counts).
            f"sum({_weight('e.transaction_id', seed='count')}) % {P}, "
            # Per account: the cached balances.
            f"sum({amount} * {_weight('e.account_id', seed='balance')}) % {P}, "
            # Per account and month, year, all time: the period totals.
            f"coalesce(sum(CASE WHEN e.earned_in IS NOT NULL "
            f"THEN {amount} * (({in_periods}) % {P}) END) % {P}, 0), "
            # A reversal and its original, account by account: amounts cancel, counts match.
            f"coalesce(sum({amount} * (({in_pair('p.r', 'pair')} "
            f"+ {in_pair('p.o', 'pair')}) % {P})) % {P}, 0), "
            f"coalesce(sum({in_pair('p.r', 'pair_count')} "
            f"- {in_pair('p.o', 'pair_count')}) % {P}, 0) "
            "FROM ledger_entries e LEFT JOIN pairs p ON p.txn = e.transaction_id"
        ),
        seeds | {"all": ALL_TIME},
    ).one()
    txn_sum, txn_entries, balances, periods, reversal_sums, reversal_counts = (
        int(value or 0) for value in entries
    )
    transactions = db.session.execute(
        sa.text(
            f"SELECT coalesce(sum({_mod('entry_count')} * {_weight('id', seed='count')}) % {P}, 0),"
            " "
            "count(*) FILTER (WHERE entry_count < 2), "
            "count(*) FILTER (WHERE (reverses_id IS NULL) <> (kind <> 'reversal')), "
            "count(*) FILTER (WHERE reverses_id IS NOT NULL AND id IN "
            "(SELECT reverses_id FROM ledger_transactions WHERE reverses_id IS NOT NULL)) "
            "FROM ledger_transactions"
        ),
        seeds,
    ).one()
    kept_entries, too_few, mislinked, chained = (int(value or 0) for value in transactions)
    accounts = db.session.execute(
        sa.text(
            f"SELECT coalesce(sum({_mod('balance')} * {_weight('id', seed='balance')}) % {P}, 0),"
            " "
            "count(*) FILTER (WHERE kind = 'wallet' AND balance < 0) FROM accounts"
        ),
        seeds,
    ).one()
    kept_balances, negative = (int(value or 0) for value in accounts)
    # An issuance account's kept total is what it issued: the negation of its entries.
    signed = "CASE WHEN t.account_kind = 'issuance' THEN -t.amount ELSE t.amount END"
    period = "text:t.period"
    shown = (
        "t.account_kind = 'wallet' AND t.amount > 0 AND a.owner_type = 'person' "
        "AND a.owner_id NOT IN (SELECT id FROM people WHERE hide_from_boards)"
    )
    street = _weight("0", "t.amount", period, seed="board")
    community = _weight("a.community_id", "t.amount", period, seed="board")
    kept = _weight("t.account_id", period, seed="period")
    on_boards = f"({street} + CASE WHEN a.community_id IS NULL THEN 0 ELSE {community} END) % {P}"
    totals = db.session.execute(
        sa.text(
            f"SELECT coalesce(sum({_mod(signed)} * {kept}) % {P}, 0), "
            f"coalesce(sum(CASE WHEN {shown} THEN {on_boards} END) % {P}, 0), "
            # Each total beside its wallet's person (the boards show them), exactly.
            "count(*) FILTER (WHERE t.person_id IS DISTINCT FROM CASE WHEN a.kind = 'wallet' "
            "AND a.owner_type = 'person' THEN a.owner_id END) "
            "FROM period_totals t JOIN accounts a ON a.id = t.account_id"
        ),
        seeds,
    ).one()
    kept_periods, shown_wallets, misplaced = (int(value or 0) for value in totals)
    scope = "CASE WHEN c.scope = 'street' THEN 0 ELSE CAST(substr(c.scope, 11) AS BIGINT) END"
    counted = int(
        db.session.execute(
            sa.text(
                f"SELECT coalesce(sum({_mod('c.wallets')} * "
                f"{_weight(scope, 'c.amount', 'text:c.period', seed='board')}) % {P}, 0) "
                "FROM board_counts c"
            ),
            seeds,
        ).scalar()
        or 0
    )
    found = set()
    if txn_sum != 0 or txn_entries != kept_entries or too_few:
        found.add("transactions")
    if balances != kept_balances or negative:
        found.add("balances")
    if reversal_sums != 0 or reversal_counts % prime != 0 or mislinked or chained:
        found.add("reversals")
    if periods != kept_periods or misplaced:
        found.add("periods")
    if counted != shown_wallets:
        found.add("boards")
    return found
