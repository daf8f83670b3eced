"""The ledger's rules, one by one, on the database under test."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.core.errors import (
    AlreadyReversed,
    BudgetExceeded,
    BusinessRuleError,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidAmount,
    InvalidInput,
    UnknownAccount,
)
from app.models import Account, LedgerEntry, LedgerTransaction, Merchant, PeriodTotal
from app.people import org
from app.points import ledger


@pytest.fixture
def shop(db):
    merchant = Merchant(name="惠民超市", tier="street", category="超市")
    db.session.add(merchant)
    db.session.flush()
    return ledger.merchant_account(merchant)


def spend(wallet, shop, points, key, now):
    return ledger.post(
        kind="redemption",
        legs=[ledger.Leg(wallet, -points), ledger.Leg(shop, points)],
        idempotency_key=key,
        now=now,
    )


def test_award_moves_points_from_issuance_to_wallet(make_volunteer, db, now):
    person = make_volunteer(points=100)
    wallet = ledger.wallet_for(person)
    issuance = ledger.issuance_account(person.community)
    assert ledger.balance(wallet) == 100
    assert ledger.balance(issuance) == -100
    assert ledger.earned_this_month(wallet, now) == 100
    assert ledger.period_total(issuance, "M2026-11") == 100
    assert ledger.check() == []


def test_spending_is_not_earning(make_volunteer, shop, db, now):
    wallet = ledger.wallet_for(make_volunteer(points=100))
    spend(wallet, shop, 30, "s1", now)
    assert ledger.balance(wallet) == 70
    assert ledger.balance(shop) == 30
    assert ledger.earned_this_month(wallet, now) == 100


def test_wallet_cannot_go_below_zero(make_volunteer, shop, db, now):
    wallet = ledger.wallet_for(make_volunteer(points=20))
    with pytest.raises(InsufficientPoints) as info:
        spend(wallet, shop, 21, "s1", now)
    assert info.value.params == {"balance": 20, "needed": 21}
    assert ledger.balance(wallet) == 20
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == 1
    assert ledger.check() == []


def test_database_refuses_a_negative_wallet_even_without_the_service(make_volunteer, db):
    wallet = ledger.wallet_for(make_volunteer(points=5))
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.execute(sa.update(Account).where(Account.id == wallet.id).values(balance=-1))


def test_issuance_may_go_negative_but_not_past_budget(make_community, make_volunteer, db, now):
    community = make_community(budget=100)
    person = make_volunteer(community=community, points=80)
    wallet = ledger.wallet_for(person)
    issuance = ledger.issuance_account(community)
    with pytest.raises(BudgetExceeded) as info:
        ledger.post(
            kind="award",
            legs=[ledger.Leg(issuance, -21), ledger.Leg(wallet, 21)],
            idempotency_key="over",
            now=now,
        )
    assert info.value.params == {"budget": 100, "issued": 80}
    assert ledger.balance(wallet) == 80
    # Exactly up to the budget is fine; an administrator may go past it.
    ledger.post(
        kind="award",
        legs=[ledger.Leg(issuance, -20), ledger.Leg(wallet, 20)],
        idempotency_key="full",
        now=now,
    )
    ledger.post(
        kind="award",
        legs=[ledger.Leg(issuance, -50), ledger.Leg(wallet, 50)],
        idempotency_key="admin",
        now=now,
        may_exceed_budget=True,
    )
    assert ledger.period_total(issuance, "M2026-11") == 150
    # Next month starts afresh.
    ledger.post(
        kind="award",
        legs=[ledger.Leg(issuance, -90), ledger.Leg(wallet, 90)],
        idempotency_key="december",
        now=now + timedelta(days=20),
    )
    assert ledger.period_total(issuance, "M2026-12") == 90
    assert ledger.check() == []


def test_balances_and_totals_pass_32_bits(make_volunteer, db, now):
    """An issuance account holds minus all its community ever issued: at city scale that
    passes 2**31 (PostgreSQL's INTEGER refused it; migration 0016 made the columns BIGINT)."""
    person = make_volunteer()
    wallet, issuance = ledger.wallet_for(person), ledger.issuance_account(person.community)
    for n in range(3):
        ledger.post(
            kind="award",
            legs=[ledger.Leg(issuance, -1_500_000_000), ledger.Leg(wallet, 1_500_000_000)],
            idempotency_key=f"big-{n}",
            now=now,
            may_exceed_budget=True,
        )
    assert ledger.balance(issuance) == -4_500_000_000
    assert ledger.period_total(wallet, "M2026-11") == 4_500_000_000
    assert ledger.check() == []


@pytest.mark.parametrize("amount", [0, 2.5, "7", True, None, 10**12 + 1])
def test_amount_must_be_a_nonzero_whole_number(make_volunteer, shop, db, now, amount):
    wallet = ledger.wallet_for(make_volunteer(points=10))
    with pytest.raises(InvalidAmount) as info:
        ledger.post(
            kind="redemption",
            legs=[ledger.Leg(wallet, amount), ledger.Leg(shop, 5)],
            idempotency_key="bad",
            now=now,
        )
    assert info.value.field == "amount"


def test_entries_must_balance(make_volunteer, shop, db, now):
    wallet = ledger.wallet_for(make_volunteer(points=10))
    with pytest.raises(InvalidInput, match="之和必须为零"):
        ledger.post(
            kind="redemption",
            legs=[ledger.Leg(wallet, -5), ledger.Leg(shop, 4)],
            idempotency_key="bad",
            now=now,
        )


def test_unknown_account_and_bad_shapes_are_refused(make_volunteer, shop, db, now):
    wallet = ledger.wallet_for(make_volunteer(points=10))
    ghost = Account(kind="wallet", owner_type="person", owner_id=999999)
    with pytest.raises(UnknownAccount):
        ledger.post(
            kind="transfer",
            legs=[ledger.Leg(wallet, -1), ledger.Leg(ghost, 1)],
            idempotency_key="k",
            now=now,
        )
    with pytest.raises(UnknownAccount):
        ledger.get_account(999999)
    with pytest.raises(InvalidInput, match="至少需要两条分录"):
        ledger.post(kind="transfer", legs=[ledger.Leg(wallet, 0)], idempotency_key="k", now=now)
    with pytest.raises(InvalidInput, match="出现了两次"):
        ledger.post(
            kind="transfer",
            legs=[ledger.Leg(wallet, -1), ledger.Leg(wallet, 1)],
            idempotency_key="k",
            now=now,
        )
    with pytest.raises(InvalidInput, match="未知交易类型"):
        ledger.post(
            kind="gift",
            legs=[ledger.Leg(wallet, -1), ledger.Leg(shop, 1)],
            idempotency_key="k",
            now=now,
        )
    with pytest.raises(InvalidInput, match="缺少幂等键"):
        spend(wallet, shop, 1, " ", now)


def test_same_key_returns_the_first_transaction(make_volunteer, shop, db, now):
    wallet = ledger.wallet_for(make_volunteer(points=50))
    first = spend(wallet, shop, 10, "tap-1", now)
    assert first.replayed is False
    again = spend(wallet, shop, 10, "tap-1", now)
    assert again.id == first.id
    assert again.replayed is True
    assert ledger.balance(wallet) == 40


def test_same_key_with_other_content_is_a_conflict(make_volunteer, shop, db, now):
    wallet = ledger.wallet_for(make_volunteer(points=50))
    spend(wallet, shop, 10, "tap-1", now)
    with pytest.raises(IdempotencyConflict):
        spend(wallet, shop, 11, "tap-1", now)
    assert ledger.balance(wallet) == 40


def test_reversal_undoes_and_links(make_volunteer, db, now):
    person = make_volunteer(points=60)
    wallet = ledger.wallet_for(person)
    award = db.session.scalar(sa.select(LedgerTransaction).filter_by(kind="award"))
    undo = ledger.reverse(award, idempotency_key="undo", now=now, memo="录错了")
    assert undo.reverses_id == award.id
    assert sorted(e.amount for e in undo.entries) == [-60, 60]
    assert ledger.balance(wallet) == 0
    assert ledger.earned_this_month(wallet, now) == 0  # a reversed award is not earned
    # The same undo again returns the reversal; a different one is refused.
    assert ledger.reverse(award, idempotency_key="undo", now=now).id == undo.id
    with pytest.raises(AlreadyReversed):
        ledger.reverse(award, idempotency_key="undo-2", now=now)
    with pytest.raises(BusinessRuleError):
        ledger.reverse(undo, idempotency_key="undo-undo", now=now)
    assert ledger.check() == []


def test_reversing_spent_points_is_refused(make_volunteer, shop, db, now):
    wallet = ledger.wallet_for(make_volunteer(points=30))
    award = db.session.scalar(sa.select(LedgerTransaction).filter_by(kind="award"))
    spend(wallet, shop, 25, "s", now)
    with pytest.raises(InsufficientPoints):
        ledger.reverse(award, idempotency_key="undo", now=now)
    assert ledger.balance(wallet) == 5
    assert ledger.check() == []


@pytest.mark.parametrize("table", ["ledger_entries", "ledger_transactions", "audit_events"])
def test_history_tables_are_append_only(make_volunteer, db, table):
    make_volunteer(points=10)
    db.session.flush()
    with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.text(f"UPDATE {table} SET id = id"))  # noqa: S608
    with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608


def test_check_reports_what_is_wrong(make_volunteer, shop, db, now):
    wallet = ledger.wallet_for(make_volunteer(points=40))
    txn = spend(wallet, shop, 10, "s", now)
    assert ledger.check() == []
    # Tamper behind the ledger's back: an extra entry and a wrong cached balance.
    db.session.add(LedgerEntry(transaction_id=txn.id, account_id=shop.id, amount=3))
    db.session.execute(sa.update(Account).where(Account.id == wallet.id).values(balance=31))
    db.session.execute(
        sa.update(PeriodTotal)
        .where(PeriodTotal.account_id == wallet.id, PeriodTotal.period == "ALL")
        .values(amount=1)
    )
    db.session.flush()
    problems = "\n".join(ledger.check())
    assert f"transaction #{txn.id}: 3 entries summing to 3" in problems
    assert f"account #{wallet.id} (wallet): cached balance 31, entries sum to 30" in problems
    assert f"account #{shop.id} (merchant): cached balance 10, entries sum to 13" in problems
    assert f"account #{wallet.id} period ALL: kept total 1, entries give 40" in problems


def test_check_reports_bad_reversals_and_stray_period_totals(make_volunteer, shop, db, now):
    wallet = ledger.wallet_for(make_volunteer(points=40))
    txn = spend(wallet, shop, 10, "s", now)
    good = ledger.reverse(txn, idempotency_key="undo", now=now)
    assert ledger.check() == []
    award = db.session.scalar(sa.select(LedgerTransaction).filter_by(kind="award"))

    def forged(kind, reverses_id, legs, key):
        fake = LedgerTransaction(
            kind=kind, idempotency_key=key, fingerprint="x", reverses_id=reverses_id, created_at=now
        )
        db.session.add(fake)
        db.session.flush()
        db.session.add_all(
            LedgerEntry(transaction_id=fake.id, account_id=account.id, amount=amount)
            for account, amount in legs
        )
        return fake

    # A "reversal" of the award with the wrong amounts, one of a reversal, one of nothing.
    wrong = forged("reversal", award.id, [(wallet, -7), (shop, 7)], "f1")
    twice = forged("reversal", good.id, [(wallet, -10), (shop, 10)], "f2")
    orphan = forged("reversal", None, [(wallet, 1), (shop, -1)], "f3")
    empty = forged("transfer", None, [], "f4")
    lonely = forged("transfer", None, [(wallet, 2)], "f5")
    # A kept total for a month nothing was earned in.
    db.session.add(
        PeriodTotal(account_id=wallet.id, period="M2020-01", account_kind="wallet", amount=5)
    )
    db.session.flush()
    problems = "\n".join(ledger.check())
    assert f"reversal #{wrong.id}: entries are not the negation of #{award.id}" in problems
    assert f"reversal #{twice.id}: reverses #{good.id}, itself a reversal" in problems
    assert f"reversal #{orphan.id}: reverses nothing" in problems
    assert f"transaction #{empty.id}: has no entries" in problems
    assert f"transaction #{lonely.id}: 1 entries summing to 2, not zero" in problems
    assert f"account #{wallet.id} period M2020-01: kept total 5, entries give 0" in problems
    assert f"reversal #{good.id}:" not in problems


def test_each_total_is_kept_beside_the_wallets_person(make_volunteer, db, now):
    ann, bob = make_volunteer(points=40), make_volunteer(points=25)
    wallet = ledger.wallet_for(ann)
    kept = db.session.scalars(sa.select(PeriodTotal).filter_by(account_id=wallet.id)).all()
    assert {row.period for row in kept} == {"ALL", *ledger.period_keys(now)}
    assert {row.person_id for row in kept} == {ann.id}
    # An issuance account's totals have nobody beside them.
    issued = db.session.scalars(sa.select(PeriodTotal).filter_by(account_kind="issuance")).all()
    assert issued and {row.person_id for row in issued} == {None}
    assert ledger.check() == []
    # Someone else beside a wallet's total would put their name on its line of the board.
    db.session.execute(
        sa.update(PeriodTotal)
        .where(PeriodTotal.account_id == wallet.id, PeriodTotal.period == "ALL")
        .values(person_id=bob.id)
    )
    db.session.flush()
    assert ledger.check() == [
        f"account #{wallet.id} period ALL: kept beside person #{bob.id}, "
        f"the wallet's person is #{ann.id}"
    ]


def test_periods_follow_the_deployment_time_zone(make_volunteer, db, now):
    person = make_volunteer()
    community = org.get_community(person.community.name)
    wallet = ledger.wallet_for(person)
    # 2026-11-30 17:00 UTC is already 1 December in Shanghai.
    late = now.replace(day=30, hour=17)
    ledger.post(
        kind="award",
        legs=[ledger.Leg(ledger.issuance_account(community), -5), ledger.Leg(wallet, 5)],
        idempotency_key="late",
        now=late,
    )
    assert ledger.period_total(wallet, "M2026-12") == 5
    assert ledger.period_total(wallet, "M2026-11") == 0
    assert ledger.period_total(wallet, "Y2026") == 5
    assert ledger.check() == []
