"""The weighted-sum proof behind `flask ledger-check` on PostgreSQL (app.points.ledger_fingerprint):
silent on a clean ledger, and each way a ledger can go wrong behind its back breaks the
invariant it belongs to, so the row-by-row check then runs and says what."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from app.core.extensions import db
from app.models import (
    Account,
    BoardCount,
    LedgerEntry,
    LedgerTransaction,
    PeriodTotal,
    Person,
)
from app.people import people
from app.points import ledger, ledger_fingerprint
from tests.conftest import DB_KIND
from tests.test_ledger import shop, spend  # noqa: F401 (a fixture)


def test_the_moduli_are_primes():
    def by_division(n):
        return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))

    assert [n for n in range(10_000) if ledger_fingerprint.is_prime(n)] == [
        n for n in range(10_000) if by_division(n)
    ]
    # Strong pseudoprimes to base 2 and Carmichael numbers are found out.
    for composite in (2047, 561, 1_373_653, 25_326_001, 3_215_031_751, 2**31 + 1):
        assert not ledger_fingerprint.is_prime(composite)
    assert ledger_fingerprint.is_prime(2**31 - 1)
    drawn = {ledger_fingerprint.random_prime() for _ in range(20)}
    assert all(2**30 <= p < 2**31 and by_division(p) for p in drawn) and len(drawn) > 1


@dataclass
class Busy:
    wallet: Account  # 张明's, 40 points, a spend of 15 made and reversed
    other: Person  # 李华: 25 points, an award that is not reversed
    award: LedgerTransaction  # 李华's


@pytest.fixture
def busy(db, make_community, make_volunteer, shop, now):  # noqa: F811
    """A ledger with awards, a spend, a reversal of each kind, an opt-out and a move."""
    if DB_KIND != "postgresql":
        pytest.skip("the proof is PostgreSQL's (SQLite checks row by row)")
    here, there = make_community(), make_community()
    ann = make_volunteer(community=here, points=40)
    bob = make_volunteer(community=here, name="李华", points=25)
    cat = make_volunteer(community=there, name="王芳", points=10)
    wallet = ledger.wallet_for(ann)
    spent = spend(wallet, shop, 15, "spend", now)
    ledger.reverse(spent, idempotency_key="undo-spend", now=now)
    ledger.reverse(_award_of(cat), idempotency_key="undo-award", now=now)
    people.set_preferences(bob, hide_from_boards=True, locale="zh", now=now)
    people.update_person(ann, community=there, now=now, actor=None, source="test")
    db.session.flush()
    return Busy(wallet, bob, _award_of(bob))


def _award_of(person: Person) -> LedgerTransaction:
    wallet = ledger.wallet_for(person)
    return db.session.scalar(
        sa.select(LedgerTransaction)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerTransaction.kind == "award", LedgerEntry.account_id == wallet.id)
    )


def test_a_clean_ledger_passes_and_agrees_with_the_exact_check(busy):
    assert ledger_fingerprint.failing() == set()
    assert ledger.check(exact=True) == []
    assert ledger.check() == []


def test_an_entry_more_than_posted_breaks_the_transactions(busy, db):
    wallet = ledger.wallet_for(busy.other)
    # Balanced and on one account (balances and totals unchanged), but not what was posted.
    db.session.add_all(
        LedgerEntry(transaction_id=busy.award.id, account_id=wallet.id, amount=amount)
        for amount in (3, -3)
    )
    db.session.flush()
    assert ledger_fingerprint.failing() == {"transactions"}
    assert f"transaction #{busy.award.id}: 4 entries, posted with 2" in ledger.check()


def test_an_unbalanced_transaction_is_found(busy, db, shop):  # noqa: F811
    txn = db.session.scalar(sa.select(LedgerTransaction).filter_by(idempotency_key="spend"))
    db.session.add(LedgerEntry(transaction_id=txn.id, account_id=shop.id, amount=3))
    db.session.flush()
    assert "transactions" in ledger_fingerprint.failing()
    assert f"transaction #{txn.id}: 3 entries summing to 3, not zero" in ledger.check()


def test_a_wrong_cached_balance_or_a_negative_wallet_breaks_the_balances(busy, db):
    db.session.execute(
        sa.update(Account).where(Account.id == busy.wallet.id).values(balance=Account.balance + 1)
    )
    db.session.flush()
    assert ledger_fingerprint.failing() == {"balances"}


def test_a_wrong_period_total_breaks_the_periods(busy, db):
    # 李华 opted out of the boards: his totals are counted on none.
    wallet = ledger.wallet_for(busy.other)
    db.session.execute(
        sa.update(PeriodTotal)
        .where(PeriodTotal.account_id == wallet.id, PeriodTotal.period.like("Y%"))
        .values(amount=PeriodTotal.amount + 5)
    )
    db.session.flush()
    assert ledger_fingerprint.failing() == {"periods"}
    assert any(f"account #{wallet.id} period Y" in line for line in ledger.check())
    assert any(f"account #{wallet.id} period Y" in line for line in ledger.check(exact=True))


def test_a_stray_period_total_breaks_the_periods(busy, db):
    db.session.add(
        PeriodTotal(account_id=busy.wallet.id, period="M2020-01", account_kind="wallet", amount=5)
    )
    db.session.flush()
    # A stray wallet total is on the boards too (as far as the counts are concerned).
    assert "periods" in ledger_fingerprint.failing()


def test_a_total_beside_the_wrong_person_breaks_the_periods(busy, db):
    # The boards name whoever is kept beside a wallet's total: someone else's name there
    # is as wrong as a wrong amount, though every sum still agrees.
    db.session.execute(
        sa.update(PeriodTotal)
        .where(PeriodTotal.account_id == busy.wallet.id, PeriodTotal.period == "ALL")
        .values(person_id=busy.other.id)
    )
    db.session.flush()
    assert ledger_fingerprint.failing() == {"periods"}
    problems = ledger.check()
    assert (
        f"account #{busy.wallet.id} period ALL: kept beside person #{busy.other.id}, "
        f"the wallet's person is #{busy.wallet.owner_id}"
    ) in problems


def test_an_issued_total_with_the_wrong_sign_breaks_the_periods(busy, db):
    issued = db.session.scalar(
        sa.select(PeriodTotal).where(PeriodTotal.account_kind == "issuance").limit(1)
    )
    db.session.execute(
        sa.update(PeriodTotal)
        .where(PeriodTotal.account_id == issued.account_id, PeriodTotal.period == issued.period)
        .values(amount=-issued.amount)
    )
    db.session.flush()
    assert ledger_fingerprint.failing() == {"periods"}


def test_a_wrong_board_count_breaks_the_boards(busy, db):
    db.session.execute(
        sa.update(BoardCount)
        .where(BoardCount.scope == "street", BoardCount.wallets > 0)
        .values(wallets=BoardCount.wallets + 1)
    )
    db.session.flush()
    assert ledger_fingerprint.failing() == {"boards"}


def test_a_reversal_that_does_not_negate_its_original_breaks_the_reversals(busy, db, now):
    wallet = ledger.wallet_for(busy.other)
    issuance = ledger.issuance_account(busy.other.community)
    forged = LedgerTransaction(
        kind="reversal",
        idempotency_key="forged",
        fingerprint="x",
        reverses_id=busy.award.id,
        created_at=now,
        entry_count=2,
    )
    db.session.add(forged)
    db.session.flush()
    db.session.add_all(
        [
            LedgerEntry(transaction_id=forged.id, account_id=wallet.id, amount=-7),
            LedgerEntry(transaction_id=forged.id, account_id=issuance.id, amount=7),
        ]
    )
    db.session.flush()
    assert "reversals" in ledger_fingerprint.failing()
    assert (
        f"reversal #{forged.id}: entries are not the negation of #{busy.award.id}" in ledger.check()
    )


def test_a_reversal_of_a_reversal_breaks_the_reversals(busy, db, now):
    undo = db.session.scalar(sa.select(LedgerTransaction).filter_by(idempotency_key="undo-spend"))
    entries = db.session.scalars(sa.select(LedgerEntry).filter_by(transaction_id=undo.id)).all()
    again = LedgerTransaction(
        kind="reversal",
        idempotency_key="again",
        fingerprint="x",
        reverses_id=undo.id,
        created_at=now,
        entry_count=len(entries),
    )
    db.session.add(again)
    db.session.flush()
    db.session.add_all(
        LedgerEntry(transaction_id=again.id, account_id=e.account_id, amount=-e.amount)
        for e in entries
    )
    for e in entries:
        db.session.execute(
            sa.update(Account)
            .where(Account.id == e.account_id)
            .values(balance=Account.balance - e.amount)
        )
    db.session.flush()
    assert ledger_fingerprint.failing() == {"reversals"}
    assert f"reversal #{again.id}: reverses #{undo.id}, itself a reversal" in ledger.check()


def test_a_difference_that_is_a_multiple_of_the_prime_is_caught_with_another(
    busy,
    db,
    shop,  # noqa: F811
    monkeypatch,
):
    one = 2**31 - 1
    other = next(n for n in range(one - 2, 2**30, -2) if ledger_fingerprint.is_prime(n))
    db.session.execute(
        sa.update(Account).where(Account.id == shop.id).values(balance=Account.balance + one)
    )
    db.session.flush()
    monkeypatch.setattr(ledger_fingerprint, "random_prime", lambda: one)
    assert ledger_fingerprint.failing() == set()  # one modulus alone cannot see it
    monkeypatch.setattr(ledger_fingerprint, "random_prime", lambda: other)
    assert ledger_fingerprint.failing() == {"balances"}
