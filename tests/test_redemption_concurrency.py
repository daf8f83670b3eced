"""Redemptions under real concurrency: threads with their own connections, really committing."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.core.database import commit_unit_of_work, rollback_unit_of_work
from app.core.errors import BusinessRuleError, CodeExpired, InsufficientPoints
from app.core.extensions import db
from app.models import Merchant, MerchantCommunity, Offer, Person, Redemption
from app.partners import offers, personal_codes, redemptions
from app.people import org, people
from app.points import ledger
from tests.conftest import run_threads

pytestmark = pytest.mark.committing
NOW = datetime(2026, 11, 15, 2, 30, tzinfo=UTC)


def _setup(app, *, people_count=1, points=100, shops=1, **offer_fields) -> dict:
    """Volunteers with points, shops with one offer each; all committed; returns ids."""
    from app.points import awards

    with app.app_context():
        community = org.create_community("并发社区")
        volunteers = []
        for i in range(people_count):
            person = people.create_person(
                name=f"志愿者{i}",
                phone=f"+86137{i:08d}",
                community=community,
                now=NOW,
                actor=None,
                source="test",
            )
            awards.award(
                person,
                points,
                reason="测试",
                idempotency_key=f"seed-{i}",
                now=NOW,
                actor=None,
                source="test",
                notify=False,
            )
            volunteers.append(person.id)
        shop_ids, offer_ids = [], []
        for i in range(shops):
            merchant = Merchant(name=f"商店{i}", tier="community", category="超市")
            db.session.add(merchant)
            db.session.flush()
            db.session.add(MerchantCommunity(merchant_id=merchant.id, community_id=community.id))
            ledger.merchant_account(merchant)
            offer_fields.setdefault("points_cost", 30)
            offer = offers.create_offer(
                merchant,
                offers.OfferFields(title="商品", kind="goods", **offer_fields),
                actor=None,
                by_staff=True,
                now=NOW,
                source="test",
            )
            shop_ids.append(merchant.id)
            offer_ids.append(offer.id)
        commit_unit_of_work()
        return {"people": volunteers, "shops": shop_ids, "offers": offer_ids}


def _issue_codes(app, person_ids: list[int]) -> list[str]:
    with app.app_context():
        codes = [
            personal_codes.issue(db.session.get(Person, pid), now=NOW).digits for pid in person_ids
        ]
        commit_unit_of_work()
        return codes


def _unit(app, work):
    with app.app_context():
        try:
            result = work()
            commit_unit_of_work()
            return result
        except Exception:
            rollback_unit_of_work()
            raise
        finally:
            db.session.remove()


def _buy(app, code: str, shop_id: int, offer_id: int, key: str, quantity: int = 1):
    def work():
        merchant = db.session.get(Merchant, shop_id)
        ticket = redemptions.start(code, merchant, operator=None, now=NOW)
        done = redemptions.redeem(
            ticket=ticket,
            merchant=merchant,
            offer=db.session.get(Offer, offer_id),
            quantity=quantity,
            operator=None,
            idempotency_key=key,
            now=NOW,
        )
        return done.id

    return _unit(app, work)


def _check(app, redemptions_expected: int) -> None:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Redemption))
        assert count == redemptions_expected
        assert ledger.check() == []


def test_twenty_fresh_codes_against_one_wallet_never_overdraw(committed_app):
    ids = _setup(committed_app, points=100)
    codes = _issue_codes(committed_app, ids["people"] * 20)
    results = run_threads(
        20, lambda i: _buy(committed_app, codes[i], ids["shops"][0], ids["offers"][0], f"k{i}")
    )
    assert len([r for r in results if isinstance(r, int)]) == 3, results
    assert all(isinstance(r, int | InsufficientPoints) for r in results), results
    with committed_app.app_context():
        person = db.session.get(Person, ids["people"][0])
        assert ledger.balance(ledger.wallet_for(person)) == 10
    _check(committed_app, 3)


def test_one_code_two_merchants_at_once_one_redemption(committed_app):
    ids = _setup(committed_app, shops=2)
    (code,) = _issue_codes(committed_app, ids["people"])
    results = run_threads(
        2, lambda i: _buy(committed_app, code, ids["shops"][i], ids["offers"][i], f"m{i}")
    )
    assert len([r for r in results if isinstance(r, int)]) == 1, results
    assert len([r for r in results if isinstance(r, CodeExpired)]) == 1, results
    _check(committed_app, 1)


def test_a_retried_confirm_pays_once(committed_app):
    ids = _setup(committed_app)
    (code,) = _issue_codes(committed_app, ids["people"])
    with committed_app.app_context():
        merchant = db.session.get(Merchant, ids["shops"][0])
        token = redemptions.start(code, merchant, operator=None, now=NOW).token
        commit_unit_of_work()

    def confirm(_i):
        def work():
            shop = db.session.get(Merchant, ids["shops"][0])
            ticket = redemptions.read_ticket(token, shop, now=NOW)
            return redemptions.redeem(
                ticket=ticket,
                merchant=shop,
                offer=db.session.get(Offer, ids["offers"][0]),
                quantity=1,
                operator=None,
                idempotency_key="same-tap",
                now=NOW,
            ).id

        return _unit(committed_app, work)

    results = run_threads(4, confirm)
    assert len(set(results)) == 1 and isinstance(results[0], int), results
    _check(committed_app, 1)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [({"stock": 5}, 5), ({"daily_quota": 4}, 4)],
)
def test_stock_and_daily_quota_hold_under_concurrency(committed_app, limit, expected):
    ids = _setup(committed_app, people_count=12, points=100, points_cost=10, **limit)
    codes = _issue_codes(committed_app, ids["people"])
    results = run_threads(
        12, lambda i: _buy(committed_app, codes[i], ids["shops"][0], ids["offers"][0], f"s{i}")
    )
    assert len([r for r in results if isinstance(r, int)]) == expected, results
    assert all(isinstance(r, int | BusinessRuleError) for r in results), results
    _check(committed_app, expected)


def test_monthly_limit_per_person_holds_under_concurrency(committed_app):
    ids = _setup(committed_app, points=500, points_cost=10, monthly_limit=2)
    codes = _issue_codes(committed_app, ids["people"] * 8)
    results = run_threads(
        8, lambda i: _buy(committed_app, codes[i], ids["shops"][0], ids["offers"][0], f"p{i}")
    )
    assert len([r for r in results if isinstance(r, int)]) == 2, results
    _check(committed_app, 2)
