"""The ledger under real concurrency: threads, each with its own connection, really committing."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.core.database import commit_unit_of_work, rollback_unit_of_work
from app.core.errors import InsufficientPoints
from app.core.extensions import db
from app.models import LedgerTransaction, Merchant, Person
from app.people import org, people
from app.points import awards, ledger
from tests.conftest import run_threads

pytestmark = pytest.mark.committing
NOW = datetime(2026, 11, 15, 2, 30, tzinfo=UTC)


def _setup(app, points: int) -> tuple[int, int]:
    """A resident with `points` and a merchant account, committed; returns their account ids."""
    with app.app_context():
        community = org.create_community("并发社区")
        person = people.create_person(
            name="王芳",
            phone="13800138001",
            community=community,
            now=NOW,
            actor=None,
            source="test",
        )
        awards.award(
            person,
            points,
            reason="测试",
            idempotency_key="seed",
            now=NOW,
            actor=None,
            source="test",
            notify=False,
        )
        shop = Merchant(name="惠民超市", tier="street", category="超市")
        db.session.add(shop)
        db.session.flush()
        ids = ledger.wallet_for(person).id, ledger.merchant_account(shop).id
        commit_unit_of_work()
        return ids


def _spend(app, wallet_id: int, shop_id: int, points: int, key: str) -> int:
    """One redemption as its own unit of work on its own connection; returns the txn id."""
    with app.app_context():
        try:
            txn = ledger.post(
                kind="redemption",
                legs=[
                    ledger.Leg(ledger.get_account(wallet_id), -points),
                    ledger.Leg(ledger.get_account(shop_id), points),
                ],
                idempotency_key=key,
                now=NOW,
            )
            commit_unit_of_work()
            return txn.id
        except Exception:
            rollback_unit_of_work()
            raise
        finally:
            db.session.remove()


def test_fifty_concurrent_spenders_never_overdraw(committed_app):
    wallet_id, shop_id = _setup(committed_app, 100)

    def spend(index: int):
        return _spend(committed_app, wallet_id, shop_id, 7, f"spend-{index}")

    results = run_threads(50, spend)
    succeeded = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(succeeded) == 14, results
    assert len(refused) == 36, results
    with committed_app.app_context():
        assert ledger.balance(ledger.get_account(wallet_id)) == 2
        assert ledger.balance(ledger.get_account(shop_id)) == 98
        assert ledger.check() == []


def test_one_key_from_two_threads_posts_once(committed_app):
    wallet_id, shop_id = _setup(committed_app, 100)

    def spend(_index: int):
        return _spend(committed_app, wallet_id, shop_id, 10, "double-tap")

    results = run_threads(2, spend)
    assert all(isinstance(r, int) for r in results), results
    assert results[0] == results[1]
    with committed_app.app_context():
        count = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.idempotency_key == "double-tap")
        )
        assert count == 1
        assert ledger.balance(ledger.get_account(wallet_id)) == 90
        assert ledger.check() == []


def test_concurrent_awards_respect_the_monthly_budget(committed_app):
    """Twenty staff awarding at once against a budget that covers exactly twelve awards."""
    with committed_app.app_context():
        community = org.create_community("预算社区", monthly_budget=120)
        person_ids = []
        for i in range(20):
            person = people.create_person(
                name=f"居民{i}",
                phone=f"1380013{8100 + i}",
                community=community,
                now=NOW,
                actor=None,
                source="test",
            )
            person_ids.append(person.id)
        commit_unit_of_work()

    def give(index: int):
        with committed_app.app_context():
            try:
                person = db.session.get(Person, person_ids[index])
                txn = awards.award(
                    person,
                    10,
                    reason="巡逻",
                    idempotency_key=f"a-{index}",
                    now=NOW,
                    actor=None,
                    source="test",
                    notify=False,
                )
                commit_unit_of_work()
                return txn.id
            except Exception:
                rollback_unit_of_work()
                raise
            finally:
                db.session.remove()

    results = run_threads(20, give)
    assert sum(isinstance(r, int) for r in results) == 12, results
    with committed_app.app_context():
        issuance = ledger.issuance_account(org.get_community("预算社区"))
        assert ledger.period_total(issuance, "M2026-11") == 120
        assert ledger.balance(issuance) == -120
        assert ledger.check() == []
