"""A new shop's first two sales at once (real connections, real commits): both open the same
merchant account. It used to be get-or-create, and the second insert's unique violation came
out of a redemption as "This code was already used" (issue 17's unexplained refusal)."""

import threading
import time

import pytest
import sqlalchemy as sa

from app.core.database import commit_unit_of_work, rollback_unit_of_work
from app.core.extensions import db
from app.models import Account, Merchant
from app.points import ledger
from tests.conftest import run_threads

pytestmark = pytest.mark.committing


def test_two_first_postings_at_a_new_shop_open_one_account(committed_app):
    with committed_app.app_context():
        merchant = Merchant(name="新开的店", tier="street", category="餐饮")
        db.session.add(merchant)
        commit_unit_of_work()
        merchant_id = merchant.id
    opened = threading.Event()

    def open_account(index: int):
        with committed_app.app_context():
            try:
                if index == 1:
                    # Before touching the database: on SQLite the first read begins the
                    # write lock (BEGIN IMMEDIATE), and a second that took it first would
                    # hold it through this wait while the first timed out behind it.
                    opened.wait(10)  # the first has inserted and not committed yet
                shop = db.session.get(Merchant, merchant_id)
                account = ledger.merchant_account(shop)
                if index == 0:
                    opened.set()
                    time.sleep(0.3)  # let the second reach its insert meanwhile
                commit_unit_of_work()
                return account.id
            except Exception as exc:  # kept for the assertion
                rollback_unit_of_work()
                return exc
            finally:
                db.session.remove()

    first, second = run_threads(2, open_account)
    assert isinstance(first, int) and first == second, (first, second)
    with committed_app.app_context():
        count = sa.select(sa.func.count()).select_from(Account).filter_by(kind="merchant")
        assert db.session.scalar(count) == 1
