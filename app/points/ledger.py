"""THE only code that moves points.

`post` writes one balanced double-entry transaction: it validates, takes the locks it must
(the wallets it touches, in id order), writes the entries, updates cached balances and the
per-period totals, and returns the transaction. Posting an idempotency key a second time
returns the first transaction. `reverse` undoes a transaction with a new one. Nothing here
commits: the edge that called the service does, once.

Locking, so that concurrent postings neither overdraw nor deadlock:
- SQLite: the whole transaction holds the database write lock from BEGIN IMMEDIATE
  (`app.database`), so postings run one after another.
- PostgreSQL: wallets (one person's, rarely contended) are locked up front with
  SELECT … FOR UPDATE in id order and checked. Shared accounts (a community's issuance
  account, a busy merchant) are never locked for reading: their balance and period rows
  change by atomic `x = x + d` updates at the very end, in a fixed order (account id, then
  row), so a hot account's row lock is held only from that update to the commit.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.attributes import set_committed_value

from app.core import metrics
from app.core.clock import ALL_TIME, month_key, year_key
from app.core.database import (
    add_to_counter,
    add_to_counters,
    holds_write_lock,
    insert_unless_taken,
)
from app.core.errors import (
    AlreadyReversed,
    BudgetExceeded,
    BusinessRuleError,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidAmount,
    InvalidInput,
    NotFound,
    UnknownAccount,
)
from app.core.extensions import db
from app.models import Account, LedgerEntry, LedgerTransaction, OrgUnit, PeriodTotal, Person
from app.models.base import table_of
from app.points import board_counts, ledger_fingerprint

# Transactions whose wallet credits count as points *earned* (rankings, statements) and
# whose issuance debits count against a community's monthly budget.
# A deduction (扣分) is a negative earning: it lowers what the month counts.
EARNING_KINDS = frozenset({"award", "attendance", "deed", "adjustment", "need", "deduction"})
# The accounts whose part in an earning is kept in period totals: what a wallet earned,
# what an issuance account issued.
COUNTED = frozenset({"wallet", "issuance"})
# settlement: a red partner's month, cleared from its merchant account back to the communities
# that issued the points (app.partners.settlements).
TRANSACTION_KINDS = EARNING_KINDS | {"redemption", "transfer", "reversal", "settlement"}
MAX_KEY_LENGTH = 200
# One leg's points at most: far above anything real, far below the 64-bit columns' limit.
MAX_AMOUNT = 10**12


@dataclass(frozen=True)
class Leg:
    """One side of a posting: `amount` points into (positive) or out of `account`."""

    account: Account
    amount: int


def periods_tz() -> ZoneInfo:
    """Periods (months, years) are counted on one calendar for the whole deployment."""
    return ZoneInfo(current_app.config["LINLI_TIMEZONE"])


def period_keys(moment: datetime) -> tuple[str, str, str]:
    tz = periods_tz()
    return month_key(moment, tz), year_key(moment, tz), ALL_TIME


def previous_month(moment: datetime) -> str:
    """The month before the one `moment` falls in: 'M2026-10' in November."""
    local = moment.astimezone(periods_tz())
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"M{year:04d}-{month:02d}"


def _periods(now: datetime, counts_in: str | None) -> tuple[str, str, str]:
    """The month, year and all-time keys a posting's earnings count in: the month it is made
    in, or an earlier month named by `counts_in` (a correction of last month, made up now)."""
    periods = period_keys(now)
    if counts_in is None:
        return periods
    if not re.fullmatch(r"M\d{4}-(0[1-9]|1[0-2])", counts_in) or counts_in > periods[0]:
        raise InvalidInput(
            _l("Points can count only in this month or an earlier one."), field="month"
        )
    return counts_in, "Y" + counts_in[1:5], ALL_TIME


# --- accounts ---------------------------------------------------------------------------


def _open_account(kind: str, owner_type: str, owner_id: int, community_id: int | None) -> Account:
    """The account, opened when missing. Two first postings at once (a new shop's first two
    sales) both get the one account: the second insert finds the key taken."""
    account = find_account(kind, owner_type, owner_id)
    if account is None:
        values = dict(
            kind=kind, owner_type=owner_type, owner_id=owner_id, community_id=community_id
        )
        account = insert_unless_taken(Account, values)
        if account is None:
            account = find_account(kind, owner_type, owner_id)
    assert account is not None
    return account


def wallet_for(person: Person) -> Account:
    """The person's points wallet, opened on first use (loaded with the person where a hot
    path asked for `joinedload(Person.wallet)`)."""
    if person.id is None:
        db.session.flush()
    return _kept(person, "wallet", ("wallet", "person", person.id, person.community_id))


def issuance_account(community: OrgUnit) -> Account:
    """The account a community issues points from; negative means points outstanding."""
    return _open_account("issuance", "org_unit", community.id, community.id)


def merchant_account(merchant) -> Account:
    return _kept(merchant, "account", ("merchant", "merchant", merchant.id, None))


def _kept(owner, relationship: str, opening: tuple) -> Account:
    """The account on the owner's view-only relationship (no read when it was loaded with
    the owner), opened when missing and kept there for the rest of the unit of work."""
    account = getattr(owner, relationship)
    if account is None:
        account = _open_account(*opening)
        set_committed_value(owner, relationship, account)
    return account


def get_transaction(transaction_id: int | None) -> LedgerTransaction:
    """A transaction that must exist (a receipt's, an attendance's): NotFound otherwise."""
    txn = db.session.get(LedgerTransaction, transaction_id) if transaction_id else None
    if txn is None:
        raise NotFound(field="transaction")
    return txn


def get_account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None:
        raise UnknownAccount(field="account")
    return account


def find_account(kind: str, owner_type: str, owner_id: int) -> Account | None:
    """An existing account, or None; for pages that only read."""
    return db.session.scalar(
        sa.select(Account).filter_by(kind=kind, owner_type=owner_type, owner_id=owner_id)
    )


def find_wallet(person: Person) -> Account | None:
    return find_account("wallet", "person", person.id)


def wallet_and_total(person: Person, period: str) -> tuple[Account | None, int]:
    """The person's wallet (None before their first points) and what it earned in the
    period, in one query."""
    row = db.session.execute(
        sa.select(Account, sa.func.coalesce(PeriodTotal.amount, 0))
        .outerjoin(
            PeriodTotal,
            sa.and_(PeriodTotal.account_id == Account.id, PeriodTotal.period == period),
        )
        .where(
            Account.kind == "wallet", Account.owner_type == "person", Account.owner_id == person.id
        )
    ).first()
    return (row[0], int(row[1])) if row else (None, 0)


def balance(account: Account) -> int:
    db.session.refresh(account, ["balance"])
    return account.balance


def period_total(account: Account, period: str) -> int:
    row = db.session.get(PeriodTotal, (account.id, period))
    return row.amount if row else 0


def period_totals_of(person_ids: Sequence[int], period: str) -> dict[int, int]:
    """What each of these people's wallets earned in `period` ('Y2026', 'M2026-12'), in one
    query; a person who earned nothing is left out."""
    if not person_ids:
        return {}
    rows = db.session.execute(
        sa.select(Account.owner_id, PeriodTotal.amount)
        .join(PeriodTotal, PeriodTotal.account_id == Account.id)
        .where(
            Account.kind == "wallet",
            Account.owner_type == "person",
            Account.owner_id.in_(list(person_ids)),
            PeriodTotal.period == period,
        )
    )
    return {owner: int(amount) for owner, amount in rows}


def earned_this_month(account: Account, now: datetime) -> int:
    return period_total(account, period_keys(now)[0])


# --- posting ----------------------------------------------------------------------------


def _validate(kind: str, legs: Sequence[Leg], idempotency_key: str) -> None:
    if kind not in TRANSACTION_KINDS:
        raise InvalidInput(_l("Unknown transaction kind: %(kind)s"), field="kind", kind=kind)
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise InvalidInput(_l("An idempotency key is required."), field="idempotency_key")
    if len(idempotency_key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            _l("The idempotency key is longer than %(max)s characters."),
            field="idempotency_key",
            max=MAX_KEY_LENGTH,
        )
    if len(legs) < 2:
        raise InvalidInput(_l("A transaction needs at least two entries."), field="entries")
    seen: set[int] = set()
    for leg in legs:
        if not isinstance(leg.account, Account) or leg.account.id is None:
            raise UnknownAccount(field="account")
        if leg.account.id in seen:
            raise InvalidInput(_l("An account appears twice in one transaction."), field="entries")
        seen.add(leg.account.id)
        if type(leg.amount) is not int or leg.amount == 0 or abs(leg.amount) > MAX_AMOUNT:
            raise InvalidAmount(field="amount")
    if sum(leg.amount for leg in legs) != 0:
        raise InvalidInput(_l("The entries of a transaction must add up to zero."), field="entries")


def _fingerprint(kind: str, legs: Iterable[Leg], reverses_id: int | None) -> str:
    parts = [kind, str(reverses_id or "")]
    parts += [f"{leg.account.id}:{leg.amount}" for leg in sorted(legs, key=lambda g: g.account.id)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _existing(idempotency_key: str, fingerprint: str) -> LedgerTransaction | None:
    found = db.session.scalar(
        sa.select(LedgerTransaction).filter_by(idempotency_key=idempotency_key)
    )
    if found is not None and found.fingerprint != fingerprint:
        raise IdempotencyConflict(field="idempotency_key")
    return found


def _earn(leg: Leg, periods: Sequence[str]) -> list[tuple[str, int]]:
    """Add a wallet's earned points to its month, year and all-time totals in one upsert;
    returns (period, new total) for each."""
    table = table_of(PeriodTotal)
    account = leg.account
    person_id = account.owner_id if account.owner_type == "person" else None
    rows = [
        dict(
            account_id=account.id,
            period=p,
            account_kind="wallet",
            amount=leg.amount,
            person_id=person_id,
        )
        for p in periods
    ]
    result = add_to_counters(
        table, ("account_id", "period"), "amount", rows, table.c.period, table.c.amount
    )
    return [(period, amount) for period, amount in result]


def move_wallet(person: Person, community: OrgUnit) -> None:
    """The person's wallet moves with them to another community (their points stay theirs;
    their totals go to the new community's boards)."""
    wallet = _locked_wallet(person)
    if wallet.community_id != community.id:
        board_counts.move(wallet, community_id=community.id)
        wallet.community_id = community.id


def show_on_boards(person: Person, shown: bool) -> None:
    """The person opts into the public boards or out of them: their totals join or leave
    the boards' counts. Call before changing `person.hide_from_boards`."""
    if shown == (not person.hide_from_boards):
        return
    wallet = _locked_wallet(person)
    board_counts.move(wallet, community_id=wallet.community_id, shown=shown)


def _locked_wallet(person: Person) -> Account:
    """The wallet (opened if need be: a posting that opens it at the same moment then waits
    for this unit of work), locked until commit, so no posting counts its totals meanwhile,
    and read again under the lock (its community as whoever held it last left it)."""
    wallet = wallet_for(person)
    return db.session.scalars(
        sa.select(Account)
        .where(Account.id == wallet.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _add_issued(account_id: int, period: str, delta: int, ceiling: int | None) -> bool:
    """Add `delta` to one period row of an issuance account; with a ceiling, only if the
    total stays within it."""
    return add_to_counter(
        table_of(PeriodTotal),
        {"account_id": account_id, "period": period},
        "amount",
        delta,
        ceiling,
        new_row={"account_kind": "issuance"},
    )


def post(
    *,
    kind: str,
    legs: Sequence[Leg],
    idempotency_key: str,
    now: datetime,
    memo: str = "",
    actor: Person | None = None,
    may_exceed_budget: bool = False,
    reverses: LedgerTransaction | None = None,
    savepoint: bool = True,
    counts_in: str | None = None,
) -> LedgerTransaction:
    """Post one balanced transaction and return it (or the one posted earlier with this key,
    with `replayed` set).

    Raises InvalidInput / InvalidAmount / UnknownAccount for malformed postings,
    InsufficientPoints when a wallet would go below zero, BudgetExceeded when a community's
    monthly budget would be passed (unless `may_exceed_budget`, for administrators), and
    IdempotencyConflict when the key was used for a different posting.

    A refused posting leaves nothing behind: it runs in a savepoint, so that a caller posting
    many (a bulk award) can go on with the rest. A caller that rolls its whole unit of work
    back on any refusal (a redemption: every edge does) passes `savepoint=False` and saves
    the round trips.

    Earnings count in the month the posting is made, or in `counts_in` ('M2026-10'), an
    earlier month a correction makes up for: its totals, boards and budget (the caller checks
    that the month is still open, its statement not published).
    """
    legs = list(legs)
    _validate(kind, legs, idempotency_key)
    periods = _periods(now, counts_in)
    if not holds_write_lock():
        raise RuntimeError(
            "ledger.post on SQLite needs a transaction begun IMMEDIATE; "
            "this unit of work was marked read-only"
        )
    fingerprint = _fingerprint(kind, legs, reverses.id if reverses else None)
    with db.session.begin_nested() if savepoint else contextlib.nullcontext():
        return _write(
            kind,
            legs,
            idempotency_key,
            fingerprint,
            now,
            periods,
            memo,
            actor,
            may_exceed_budget,
            reverses,
        )


def _write(
    kind, legs, idempotency_key, fingerprint, now, periods, memo, actor, may_exceed_budget, reverses
):
    # The unique key decides between two posts of one key (a retry, a double tap): the
    # second insert finds it taken (on PostgreSQL once the first commits) and returns the
    # first transaction. A reversal's original is unique too: one reversal each.
    txn = insert_unless_taken(
        LedgerTransaction,
        dict(
            kind=kind,
            memo=memo[:500],
            actor_id=actor.id if actor else None,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            reverses_id=reverses.id if reverses else None,
            created_at=now,
            entry_count=len(legs),
        ),
    )
    if txn is None:
        found = _existing(idempotency_key, fingerprint)
        if found is not None:
            found.replayed = True
            return found
        if reverses is not None:
            raise AlreadyReversed()
        raise RuntimeError(f"ledger transaction {idempotency_key!r} conflicts with no key")

    personal = sorted((leg for leg in legs if leg.account.kind == "wallet"), key=_by_account)
    shared = sorted((leg for leg in legs if leg.account.kind != "wallet"), key=_by_account)

    # Wallets first, in id order (two postings never wait on each other in a cycle): each
    # is locked, checked and changed by one conditional update.
    for leg in personal:
        if not _add_to_balance(leg, keep_positive=True):
            raise InsufficientPoints(balance=balance(leg.account), needed=-leg.amount)

    earning = kind in EARNING_KINDS or (reverses is not None and reverses.kind in EARNING_KINDS)
    db.session.execute(
        _INSERT_ENTRIES,
        [
            dict(
                transaction_id=txn.id,
                account_id=leg.account.id,
                amount=leg.amount,
                earned_in=periods[0] if earning and leg.account.kind in COUNTED else None,
            )
            for leg in legs
        ],
    )
    if earning:
        moves = []
        for leg in personal:
            for period, after in _earn(leg, periods):
                moves.append((leg.account, period, after - leg.amount, after))
        board_counts.record(moves)
    # Shared accounts last, just before the caller commits.
    for leg in shared:
        _add_to_balance(leg)
        if earning and leg.account.kind == "issuance":
            _count_issued(leg, periods, actor, may_exceed_budget)

    txn.replayed = False
    metrics.count_after_commit(metrics.LEDGER_POSTINGS, kind)
    return txn


# A Core INSERT of the table, built once: an ORM-enabled insert of a list of rows goes
# through the ORM's bulk machinery (and builds its statement anew) for the same SQL.
_INSERT_ENTRIES = sa.insert(table_of(LedgerEntry))


def _by_account(leg: Leg) -> int:
    return leg.account.id


def _add_to_balance(leg: Leg, *, keep_positive: bool = False) -> bool:
    """Add the leg to its account's balance (only if it stays at or above zero, with
    `keep_positive`); the new balance is kept on the account object. False: refused."""
    row = db.session.execute(
        _balance_update(keep_positive), {"account_id": leg.account.id, "amount": leg.amount}
    ).first()
    if row is None:
        return False
    set_committed_value(leg.account, "balance", row[0])
    return True


@functools.cache
def _balance_update(keep_positive: bool) -> sa.Update:
    # Built once for each kind: every posting runs two or more.
    table = table_of(Account)
    amount = sa.bindparam("amount", type_=table.c.balance.type)
    statement = sa.update(table).where(table.c.id == sa.bindparam("account_id"))
    if keep_positive:
        statement = statement.where(table.c.balance + amount >= 0)
    return statement.values(balance=table.c.balance + amount).returning(table.c.balance)


def _count_issued(leg: Leg, periods: Sequence[str], actor, may_exceed_budget: bool) -> None:
    """Count points leaving an issuance account against its community's monthly budget."""
    issued = -leg.amount
    month = periods[0]
    community = db.session.get(OrgUnit, leg.account.owner_id)
    budget = community.monthly_budget if community is not None else None
    ceiling = None if (budget is None or may_exceed_budget or issued < 0) else budget
    if not _add_issued(leg.account.id, month, issued, ceiling):
        raise BudgetExceeded(budget=budget, issued=period_total(leg.account, month))
    for period in periods[1:]:
        _add_issued(leg.account.id, period, issued, None)


def reverse(
    original: LedgerTransaction,
    *,
    idempotency_key: str,
    now: datetime,
    memo: str = "",
    actor: Person | None = None,
    may_exceed_budget: bool = False,
) -> LedgerTransaction:
    """Undo `original` with a new transaction of the opposite entries.

    The reversal counts in the period it is made in: a published month stays as published.
    Reversing points a volunteer has already spent fails with InsufficientPoints.
    `may_exceed_budget`: points going back to whom they were taken from (an undone
    deduction) are no new issuing, and the month's budget does not stop them.
    """
    if original.reverses_id is not None:
        raise BusinessRuleError(_l("A reversal cannot itself be reversed."), field="transaction")
    already = db.session.scalar(sa.select(LedgerTransaction.id).filter_by(reverses_id=original.id))
    legs = [Leg(entry.account, -entry.amount) for entry in original.entries]
    if already is not None:
        existing = db.session.scalar(
            sa.select(LedgerTransaction).filter_by(idempotency_key=idempotency_key)
        )
        if existing is not None and existing.id == already:
            existing.replayed = True
            return existing
        raise AlreadyReversed()
    return post(
        kind="reversal",
        legs=legs,
        idempotency_key=idempotency_key,
        now=now,
        memo=memo,
        actor=actor,
        reverses=original,
        may_exceed_budget=may_exceed_budget,
    )


def history(
    account: Account, limit: int = 50, offset: int = 0
) -> list[tuple[LedgerEntry, LedgerTransaction]]:
    """The newest entries of an account with their transactions, by the time they count at
    (a posting may be dated in the past, e.g. attendance recorded after the event)."""
    rows = db.session.execute(
        sa.select(LedgerEntry, LedgerTransaction)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.account_id == account.id)
        .order_by(LedgerTransaction.created_at.desc(), LedgerEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(entry, txn) for entry, txn in rows]


# --- checking ---------------------------------------------------------------------------


def check(*, exact: bool = False) -> list[str]:
    """Every invariant of the ledger; returns one line per problem (empty when all hold).

    Row by row, each invariant is an aggregate computed in the database, and only what is
    wrong comes back to Python, so memory stays flat however long the ledger grows. On
    PostgreSQL a weighted-sum proof (app.points.ledger_fingerprint) reads each table once
    first, and only the invariants it finds broken are then checked row by row, to say what
    is wrong; `exact` checks every one row by row regardless.
    """
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        # Room for the hash aggregates in memory, for this transaction only; and no JIT:
        # each statement runs once, and compiling its expressions took 100–250 ms at 2M
        # entries, more than they then saved (EXPLAIN ANALYZE, bench/ledger_check.py).
        db.session.execute(sa.text("SET LOCAL work_mem = '128MB'"))
        db.session.execute(sa.text("SET LOCAL jit = off"))
    row_by_row = {
        "transactions": _check_transactions,
        "balances": _check_balances,
        "reversals": _check_reversals,
        "periods": _check_period_totals,
        "boards": board_counts.check,
    }
    broken = ledger_fingerprint.failing() if postgres and not exact else set(row_by_row)
    assert broken <= row_by_row.keys(), broken  # the proof names only these
    problems: list[str] = []
    for family, check_rows in row_by_row.items():
        if family in broken:
            problems += check_rows()
    return problems


def _check_transactions() -> list[str]:
    """Each transaction has the entries it was posted with (its control count), at least
    two, summing to zero (so all the entries together sum to zero as well)."""
    e, t = LedgerEntry, LedgerTransaction
    per_txn = (
        sa.select(
            e.transaction_id.label("id"),
            sa.func.sum(e.amount).label("total"),
            sa.func.count().label("n"),
        )
        .group_by(e.transaction_id)
        .subquery("per_txn")
    )
    total = sa.func.coalesce(per_txn.c.total, 0)
    count = sa.func.coalesce(per_txn.c.n, 0)
    problems = []
    for txn_id, posted, n, summed in db.session.execute(
        sa.select(t.id, t.entry_count, count, total)
        .outerjoin(per_txn, per_txn.c.id == t.id)
        .where(sa.or_(total != 0, count < 2, count != t.entry_count))
        .order_by(t.id)
    ):
        if n == 0:
            problems.append(f"transaction #{txn_id}: has no entries")
        elif summed != 0 or n < 2:
            problems.append(f"transaction #{txn_id}: {n} entries summing to {summed}, not zero")
        if n != posted:
            problems.append(f"transaction #{txn_id}: {n} entries, posted with {posted}")
    return problems


def _check_balances() -> list[str]:
    """Each account's cached balance is the sum of its entries (one pass over the entries
    by account); no wallet is below zero."""
    s, e, a = db.session, LedgerEntry, Account
    sums = (
        sa.select(e.account_id, sa.func.sum(e.amount).label("total"))
        .group_by(e.account_id)
        .subquery()
    )
    problems = [
        f"account #{account_id} ({kind}): cached balance {cached}, entries sum to {actual}"
        for account_id, kind, cached, actual in s.execute(
            sa.select(a.id, a.kind, a.balance, sa.func.coalesce(sums.c.total, 0))
            .outerjoin(sums, sums.c.account_id == a.id)
            .where(a.balance != sa.func.coalesce(sums.c.total, 0))
            .order_by(a.id)
        )
    ]
    problems += [
        f"wallet #{account_id}: negative balance {cached}"
        for account_id, cached in s.execute(
            sa.select(a.id, a.balance).where(a.kind == "wallet", a.balance < 0).order_by(a.id)
        )
    ]
    return problems


def _check_reversals() -> list[str]:
    """Each reversal links to an original that is not itself a reversal and holds its
    entries negated: account by account, the two transactions' entries sum to zero and
    are as many (read through the entries' transaction index, reversals only)."""
    t, e = LedgerTransaction, LedgerEntry
    original = sa.orm.aliased(LedgerTransaction)
    pair = sa.orm.aliased(LedgerTransaction)
    differs = (
        sa.select(pair.id)
        .join(e, e.transaction_id.in_([pair.id, pair.reverses_id]))
        .where(pair.reverses_id.is_not(None))
        .group_by(pair.id, e.account_id)
        .having(
            sa.or_(
                sa.func.sum(e.amount) != 0,
                sa.func.sum(sa.case((e.transaction_id == pair.id, 1), else_=-1)) != 0,
            )
        )
    )
    problems: list[str] = []
    for rev_id, kind, orig_id, orig_exists, orig_reverses, wrong in db.session.execute(
        sa.select(
            t.id,
            t.kind,
            t.reverses_id,
            original.id.is_not(None),
            original.reverses_id,
            t.id.in_(differs),
        )
        .outerjoin(original, t.reverses_id == original.id)
        .where(t.reverses_id.is_not(None))
        .order_by(t.id)
    ):
        if kind != "reversal":
            problems.append(f"transaction #{rev_id}: links to #{orig_id} but is a {kind}")
        if not orig_exists:
            problems.append(f"reversal #{rev_id}: reverses #{orig_id}, which does not exist")
            continue
        if orig_reverses is not None:
            problems.append(f"reversal #{rev_id}: reverses #{orig_id}, itself a reversal")
        if wrong:
            problems.append(f"reversal #{rev_id}: entries are not the negation of #{orig_id}")
    unlinked = db.session.scalars(
        sa.select(t.id).where(t.kind == "reversal", t.reverses_id.is_(None))
    ).all()
    problems += [f"reversal #{txn_id}: reverses nothing" for txn_id in unlinked]
    return problems


def _expected_period_totals() -> sa.CTE:
    """What the period totals should be, from the entries alone: (account_id, period,
    amount) for each month an entry counts in (`earned_in`), each year and all time.
    Earned for a wallet, issued (the negation) for an issuance account."""
    e, a = LedgerEntry, Account
    total = sa.cast(sa.func.sum(e.amount), sa.BigInteger)
    issuers = sa.select(a.id).where(a.kind == "issuance")
    months = (
        sa.select(
            e.account_id.label("account_id"),
            e.earned_in.label("period"),
            sa.case((e.account_id.in_(issuers), -total), else_=total).label("amount"),
        )
        .where(e.earned_in.is_not(None))
        .group_by(e.account_id, e.earned_in)
        .cte("months")
    )
    year = sa.func.substr(months.c.period, 2, 4)
    rolled = sa.cast(sa.func.sum(months.c.amount), sa.BigInteger)
    return sa.union_all(
        sa.select(months.c.account_id, months.c.period, months.c.amount),
        sa.select(months.c.account_id, (sa.literal("Y") + year).label("period"), rolled).group_by(
            months.c.account_id, year
        ),
        sa.select(months.c.account_id, sa.literal(ALL_TIME).label("period"), rolled).group_by(
            months.c.account_id
        ),
    ).cte("expected")


def _check_period_totals() -> list[str]:
    """The kept earned / issued totals are what the entries give, month, year and all time
    (a kept row of zero and no row at all are the same), and each is kept beside the
    wallet's person (the boards show them). One pass over the kept totals."""
    expected = _expected_period_totals()
    kept, account = PeriodTotal, Account
    have = sa.func.coalesce(kept.amount, 0)
    want = sa.func.coalesce(expected.c.amount, 0)
    owner = sa.case(
        (sa.and_(account.kind == "wallet", account.owner_type == "person"), account.owner_id),
        else_=sa.null(),
    )
    rows = db.session.execute(
        sa.select(
            sa.func.coalesce(expected.c.account_id, kept.account_id).label("account_id"),
            sa.func.coalesce(expected.c.period, kept.period).label("period"),
            have,
            want,
            kept.person_id,
            owner,
        )
        .select_from(expected)
        .join(
            kept,
            sa.and_(kept.account_id == expected.c.account_id, kept.period == expected.c.period),
            full=True,
        )
        .outerjoin(account, account.id == kept.account_id)
        .where(sa.or_(have != want, kept.person_id.is_distinct_from(owner)))
        .order_by(sa.literal_column("account_id"), sa.literal_column("period"))
    )
    problems = []
    for account_id, key, held, wanted, person_id, owner_id in rows:
        if held != wanted:
            problems.append(
                f"account #{account_id} period {key}: kept total {held}, entries give {wanted}"
            )
        if person_id != owner_id:
            problems.append(
                f"account #{account_id} period {key}: kept beside person #{person_id}, "
                f"the wallet's person is #{owner_id}"
            )
    return problems
