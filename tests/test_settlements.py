"""The monthly settlement with red partners (issue 16): frozen, hashed, one ledger
transaction per partner-month back to the issuing communities, voids closed after it, and
one settlement when two administrators close the same month at once."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.database import commit_unit_of_work, rollback_unit_of_work
from app.core.errors import BusinessRuleError, NotPermitted
from app.core.extensions import db
from app.models import LedgerTransaction, Person, Redemption, Settlement, SettlementMonth
from app.partners import personal_codes, redemptions, settlements
from app.people import people
from app.points import ledger
from tests.conftest import csrf_from, run_threads


def redeem(merchant, offer, volunteer, now, key, quantity=1):
    issued = personal_codes.issue(volunteer, now=now)
    ticket = redemptions.start(issued.digits, merchant, operator=None, now=now)
    return redemptions.redeem(
        ticket=ticket,
        merchant=merchant,
        offer=offer,
        quantity=quantity,
        operator=None,
        idempotency_key=key,
        now=now,
    )


@pytest.fixture
def street(db, now, make_community, make_merchant, make_volunteer, make_user):
    east, west = make_community("东社区"), make_community("西社区")
    merchant, haircut = make_merchant(
        communities=[east, west],
        name="老张理发店",
        title="理发",
        points_cost=30,
        money_value_fen=1500,
    )
    anna = make_volunteer(community=east, name="王小芳", points=200)
    bo = make_volunteer(community=west, name="李大伟", points=200)
    admin = make_user("admin", communities=[], name="街道管理员")
    return merchant, haircut, anna, bo, east, west, admin


def test_closing_a_month_freezes_it_and_clears_the_merchant_account(db, now, street, english):
    merchant, haircut, anna, bo, east, west, admin = street
    first = redeem(merchant, haircut, anna, now, "r1")
    redeem(merchant, haircut, bo, now, "r2")
    voided = redeem(merchant, haircut, anna, now + timedelta(minutes=1), "r3")
    redemptions.void(voided, actor=admin, reason="刷错了", now=now, as_staff=True)
    assert ledger.balance(ledger.merchant_account(merchant)) == 60
    issued_east = ledger.balance(ledger.issuance_account(east))

    preview = settlements.preview("2026-11")
    assert [
        (p.merchant.name, p.redemptions, p.voids, p.points, p.money_value_fen) for p in preview
    ] == [("老张理发店", 2, 1, 60, 3000)]
    with pytest.raises(BusinessRuleError, match="has not ended"):
        settlements.close_month("2026-11", actor=admin, now=now)

    december = now + timedelta(days=20)
    closing = settlements.close_month("2026-11", actor=admin, now=december)
    (settled,) = settlements.of_month(closing)
    assert (settled.redemptions, settled.voids, settled.points, settled.money_value_fen) == (
        2,
        1,
        60,
        3000,
    )
    assert sorted((p["name"], p["points"]) for p in settled.by_community) == [
        ("东社区", 30),
        ("西社区", 30),
    ]
    assert settlements.intact(closing) and settlements.intact(settled)
    # The merchant account shows only what is not settled; the points went back home.
    assert ledger.balance(ledger.merchant_account(merchant)) == 0
    assert ledger.balance(ledger.issuance_account(east)) == issued_east + 30
    txn = db.session.get(LedgerTransaction, settled.transaction_id)
    assert txn.kind == "settlement" and txn.idempotency_key == f"settlement:{merchant.id}:2026-11"
    assert ledger.check() == []
    # Closing again changes nothing.
    assert settlements.close_month("2026-11", actor=admin, now=december).id == closing.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Settlement)) == 1
    # A settled redemption can no longer be voided, by staff either.
    with pytest.raises(BusinessRuleError, match="was settled"):
        redemptions.void(first, actor=admin, reason="投诉", now=december, as_staff=True)
    db.session.refresh(first)
    assert first.voided_at is None and first.settlement_id == settled.id
    # A changed frozen figure is seen.
    settled.lines = [{**settled.lines[0], "points": 999}]
    assert not settlements.intact(settled) and not settlements.intact(closing)


def test_only_an_administrator_closes_and_redemptions_of_next_month_stay_open(
    db, now, street, make_user
):
    merchant, haircut, anna, bo, east, west, admin = street
    redeem(merchant, haircut, anna, now, "r1")
    december = now + timedelta(days=20)
    later = redeem(merchant, haircut, bo, december, "r2")  # a December redemption
    worker = make_user(communities=[east])
    with pytest.raises(NotPermitted):
        settlements.close_month("2026-11", actor=worker, now=december)
    settlements.close_month("2026-11", actor=admin, now=december)
    db.session.refresh(later)
    assert later.settlement_id is None
    assert ledger.balance(ledger.merchant_account(merchant)) == 30  # December's, unsettled
    redemptions.void(later, actor=admin, reason="刷错了", now=december, as_staff=True)
    assert ledger.check() == []


def test_an_empty_month_closes_with_nothing_to_settle(db, now, street):
    *_, admin = street
    closing = settlements.close_month("2026-10", actor=admin, now=now)
    assert (closing.partners, closing.points) == (0, 0)
    assert settlements.intact(closing)


def test_the_panel_pages_csv_and_the_shops_statement(client, db, now, app_clock, street, login):
    merchant, haircut, anna, bo, east, west, admin = street
    redeem(merchant, haircut, anna, now, "r1")
    login(admin)
    app_clock.advance(days=20)
    page = client.get("/panel/settlements")
    assert "2026-11" in page.text
    detail = client.get("/panel/settlements/2026-11")
    assert "Preview" in detail.text or "预览" in detail.text
    assert "老张理发店" in detail.text and "15.00" in detail.text
    response = client.post(
        "/panel/settlements/2026-11/close", data={"csrf_token": csrf_from(detail.text)}
    )
    assert response.status_code == 302
    closed = client.get("/panel/settlements/2026-11").text
    assert settlements.get_month("2026-11").content_hash in closed
    csv = client.get("/panel/settlements/2026-11.csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert "老张理发店" in csv.text and "15.00" in csv.text
    assert client.get("/panel/settlements/2026-13").status_code == 404
    # The shop sees its settlement on its statement page.
    operator = people.create_user(
        kind="merchant",
        name="店员",
        phone="+8613900000001",
        password="correct horse",
        merchant=merchant,
        now=now,
        actor=None,
        source="test",
    )
    client.post("/logout", data={"csrf_token": csrf_from(closed)})
    login(operator)
    statement = client.get(f"/m/{merchant.id}/statement?month=2026-11").text
    assert "15.00" in statement
    (settled,) = settlements.for_merchant(merchant)
    assert settled.content_hash[:16] in statement


def test_a_worker_cannot_open_the_settlement_pages(client, db, street, make_user, login):
    *_, east, west, admin = street
    login(make_user(communities=[east]))
    assert client.get("/panel/settlements").status_code == 403
    assert client.get("/panel/settlements/2026-11").status_code == 403


def _committed_shop(app, now) -> dict:
    """A community, a shop with one offer, two administrators and five redemptions of a
    volunteer in November, all committed; returns their ids."""
    from app.models import Merchant, MerchantCommunity, Offer
    from app.people import org
    from app.points import awards

    with app.app_context():
        community = org.create_community("并发社区")
        merchant = Merchant(name="并发商家", tier="community", category="餐饮")
        db.session.add(merchant)
        db.session.flush()
        db.session.add(MerchantCommunity(merchant_id=merchant.id, community_id=community.id))
        offer = Offer(merchant_id=merchant.id, title="面", kind="goods", points_cost=10)
        db.session.add(offer)
        ledger.merchant_account(merchant)
        admins = [
            people.create_user(
                kind="admin",
                name=f"管理员{i}",
                phone=f"+8613911110{i:03d}",
                password="correct horse",
                now=now,
                actor=None,
                source="test",
            )
            for i in range(2)
        ]
        volunteer = people.create_person(
            name="王小芳",
            phone="+8613922220000",
            community=community,
            now=now,
            actor=None,
            source="test",
        )
        awards.award(
            volunteer,
            100,
            reason="测试",
            idempotency_key="seed",
            now=now,
            actor=None,
            source="test",
            notify=False,
        )
        done = [redeem(merchant, offer, volunteer, now, f"k{n}") for n in range(5)]
        commit_unit_of_work()
        return {
            "admins": [a.id for a in admins],
            "merchant": merchant.id,
            "redemptions": [r.id for r in done],
        }


def _in_unit(app, work):
    with app.app_context():
        try:
            result = work()
            commit_unit_of_work()
            return result
        except Exception as exc:  # kept for the assertions
            rollback_unit_of_work()
            return exc
        finally:
            db.session.remove()


def _merchant_cleared(app, merchant_id: int) -> None:
    from app.models import Merchant

    with app.app_context():
        merchant = db.session.get(Merchant, merchant_id)
        assert ledger.balance(ledger.merchant_account(merchant)) == 0
        assert ledger.check() == []


DECEMBER = 20  # days after the suite's 15 November: November has ended


@pytest.mark.committing
def test_two_administrators_closing_at_once_make_one_settlement(committed_app, now):
    shop = _committed_shop(committed_app, now)
    december = now + timedelta(days=DECEMBER)

    def close(index: int):
        actor_id = shop["admins"][index]
        return _in_unit(
            committed_app,
            lambda: (
                settlements.close_month(
                    "2026-11", actor=db.session.get(Person, actor_id), now=december
                ).id
            ),
        )

    results = run_threads(2, close)
    assert all(isinstance(r, int) for r in results) and results[0] == results[1], results
    with committed_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SettlementMonth)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Settlement)) == 1
        kinds = db.session.scalars(sa.select(LedgerTransaction.kind)).all()
        assert kinds.count("settlement") == 1
        unsettled = sa.select(sa.func.count()).where(Redemption.settlement_id.is_(None))
        assert db.session.scalar(unsettled) == 0
    _merchant_cleared(committed_app, shop["merchant"])


@pytest.mark.committing
def test_a_void_racing_the_closing_is_either_counted_or_refused(committed_app, now):
    shop = _committed_shop(committed_app, now)
    december = now + timedelta(days=DECEMBER)
    admin_id, target_id = shop["admins"][0], shop["redemptions"][2]

    def close():
        actor = db.session.get(Person, admin_id)
        return settlements.close_month("2026-11", actor=actor, now=december).id

    def void():
        row = db.session.get(Redemption, target_id)
        actor = db.session.get(Person, admin_id)
        redemptions.void(row, actor=actor, reason="刷错了", now=december, as_staff=True)
        return "voided"

    closed, voided = run_threads(2, lambda i: _in_unit(committed_app, (close, void)[i]))
    assert isinstance(closed, int), closed
    with committed_app.app_context():
        (settled,) = db.session.scalars(sa.select(Settlement)).all()
        row = db.session.get(Redemption, target_id)
        if voided == "voided":  # the void went first: the settlement counts it as a void
            assert (settled.redemptions, settled.voids, settled.points) == (4, 1, 40)
            assert row.voided_at is not None
        else:  # the closing went first: the void was refused, nothing half-done
            assert isinstance(voided, BusinessRuleError), voided
            assert (settled.redemptions, settled.voids, settled.points) == (5, 0, 50)
            assert row.voided_at is None
    _merchant_cleared(committed_app, shop["merchant"])
