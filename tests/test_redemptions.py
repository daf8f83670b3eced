"""Redemptions: codes, offers, limits, idempotency, voids — the rules, one by one."""

import contextlib
from datetime import timedelta

import pytest

from app.channels import outbox
from app.core.errors import (
    BusinessRuleError,
    CodeExpired,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidCode,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from app.core.extensions import db
from app.partners import offers, personal_codes, redemptions
from app.points import ledger

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def shop(make_merchant, make_volunteer, make_community, make_user):
    community = make_community()
    merchant, offer = make_merchant(communities=[community], title="洗剪吹", points_cost=30)
    volunteer = make_volunteer(community=community, name="王小芳", points=100)
    operator = make_user("merchant", merchant=merchant, name="店员")
    return merchant, offer, volunteer, operator


@contextlib.contextmanager
def refused(error, match=None):
    """A refusal, rolled back as every edge rolls back a refused unit of work (services do
    not savepoint what a refusal leaves: the redemption path relies on the caller)."""
    with pytest.raises(error, match=match) as caught, db.session.begin_nested():
        yield caught


def sale(merchant, volunteer, now):
    issued = personal_codes.issue(volunteer, now=now)
    return redemptions.start(issued.digits, merchant, operator=None, now=now)


def test_redeem_moves_points_and_gives_a_receipt(db, now, shop):
    merchant, offer, volunteer, operator = shop
    ticket = sale(merchant, volunteer, now)
    seen = redemptions.choices(ticket, merchant, now=now)
    assert seen.masked_name == "王*芳"
    assert [(i.offer.title, i.affordable, i.most) for i in seen.items] == [("洗剪吹", True, 1)]
    done = redemptions.redeem(
        ticket=ticket,
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="k1",
        now=now,
    )
    assert done.points == 30 and done.receipt_no.startswith("R261115-")
    assert ledger.balance(ledger.wallet_for(volunteer)) == 70
    assert ledger.balance(ledger.merchant_account(merchant)) == 30
    assert f"凭证号 {done.receipt_no}" in outbox.recent(1)[0].body  # in the volunteer's language
    assert ledger.check() == []


def test_same_key_returns_the_first_receipt_and_other_content_conflicts(db, now, shop):
    merchant, offer, volunteer, operator = shop
    ticket = sale(merchant, volunteer, now)
    first = redemptions.redeem(
        ticket=ticket,
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="tap",
        now=now,
    )
    again = redemptions.redeem(
        ticket=ticket,
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="tap",
        now=now,
    )
    assert again.id == first.id and again.replayed
    assert ledger.balance(ledger.wallet_for(volunteer)) == 70
    with refused(IdempotencyConflict):
        redemptions.redeem(
            ticket=ticket,
            merchant=merchant,
            offer=offer,
            quantity=2,
            operator=operator,
            idempotency_key="tap",
            now=now,
        )


def test_one_code_pays_once(db, now, shop):
    merchant, offer, volunteer, operator = shop
    issued = personal_codes.issue(volunteer, now=now)
    ticket = redemptions.start(issued.token, merchant, operator=None, now=now)
    with refused(CodeExpired, match="already used"):
        redemptions.start(issued.digits, merchant, operator=None, now=now)
    redemptions.redeem(
        ticket=ticket,
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="a",
        now=now,
    )
    with refused(CodeExpired, match="already used"):
        redemptions.redeem(
            ticket=ticket,
            merchant=merchant,
            offer=offer,
            quantity=1,
            operator=operator,
            idempotency_key="b",
            now=now,
        )
    assert ledger.balance(ledger.wallet_for(volunteer)) == 70


def test_codes_expire_and_bad_codes_are_named(db, now, shop):
    merchant, _offer, volunteer, _operator = shop
    issued = personal_codes.issue(volunteer, now=now)
    with refused(CodeExpired, match="expired"):
        redemptions.start(issued.digits, merchant, operator=None, now=now + timedelta(seconds=61))
    with refused(InvalidCode, match="8 digits"):
        redemptions.start("12345", merchant, operator=None, now=now)
    with refused(InvalidCode, match="not a Linli"):
        redemptions.start("https://example.com/hello", merchant, operator=None, now=now)


def test_a_ticket_is_for_one_shop_and_a_few_minutes(db, now, shop, make_merchant):
    merchant, offer, volunteer, operator = shop
    other, _ = make_merchant(communities=[volunteer.community])
    ticket = sale(merchant, volunteer, now)
    with refused(InvalidCode):
        redemptions.read_ticket(ticket.token, other, now=now)
    with refused(CodeExpired):
        redemptions.read_ticket(ticket.token, merchant, now=now + timedelta(minutes=6))
    assert (
        redemptions.read_ticket(ticket.token, merchant, now=now + timedelta(minutes=4)).person
        == volunteer
    )


def test_a_shop_serves_only_its_communities(db, now, shop, make_volunteer):
    merchant, _offer, _volunteer, _operator = shop
    stranger = make_volunteer(points=100)
    with refused(BusinessRuleError, match="cannot be used at this shop"):
        sale(merchant, stranger, now)


def test_not_enough_points_charges_nothing(db, now, make_merchant, make_volunteer, make_community):
    community = make_community()
    merchant, offer = make_merchant(communities=[community], points_cost=300)
    volunteer = make_volunteer(community=community, points=100)
    ticket = sale(merchant, volunteer, now)
    assert redemptions.choices(ticket, merchant, now=now).items[0].affordable is False
    with refused(InsufficientPoints):
        redemptions.redeem(
            ticket=ticket,
            merchant=merchant,
            offer=offer,
            quantity=1,
            operator=None,
            idempotency_key="x",
            now=now,
        )
    assert ledger.balance(ledger.wallet_for(volunteer)) == 100
    assert redemptions.for_merchant_day(merchant, offers.local_day(now)) == []


@pytest.mark.parametrize("quantity", [0, 10_000, 4])
def test_bad_quantities_are_refused(
    db, now, make_merchant, make_volunteer, make_community, quantity
):
    community = make_community()
    merchant, offer = make_merchant(communities=[community], points_cost=5, max_quantity=3)
    volunteer = make_volunteer(community=community, points=100)
    with refused(InvalidInput, match="from 1 to 3"):
        redemptions.redeem(
            ticket=sale(merchant, volunteer, now),
            merchant=merchant,
            offer=offer,
            quantity=quantity,
            operator=None,
            idempotency_key="q",
            now=now,
        )


def test_inactive_and_out_of_date_offers_are_refused(db, now, shop):
    merchant, offer, volunteer, operator = shop
    offer.active = False
    with refused(BusinessRuleError, match="switched off"):
        redemptions.redeem(
            ticket=sale(merchant, volunteer, now),
            merchant=merchant,
            offer=offer,
            quantity=1,
            operator=operator,
            idempotency_key="o1",
            now=now,
        )
    offer.active = True
    offer.valid_to = now - timedelta(days=1)
    with refused(BusinessRuleError, match="ended"):
        redemptions.redeem(
            ticket=sale(merchant, volunteer, now),
            merchant=merchant,
            offer=offer,
            quantity=1,
            operator=operator,
            idempotency_key="o2",
            now=now,
        )


def test_stock_daily_quota_and_monthly_limit(
    db, now, make_merchant, make_volunteer, make_community
):
    community = make_community()
    merchant, offer = make_merchant(
        communities=[community],
        points_cost=10,
        kind="goods",
        stock=5,
        daily_quota=4,
        monthly_limit=3,
        max_quantity=5,
    )
    alice = make_volunteer(community=community, points=500)
    bob = make_volunteer(community=community, points=500)

    def buy(person, quantity, key, moment=now):
        return redemptions.redeem(
            ticket=sale(merchant, person, moment),
            merchant=merchant,
            offer=offer,
            quantity=quantity,
            operator=None,
            idempotency_key=key,
            now=moment,
        )

    buy(alice, 3, "a1")
    with refused(BusinessRuleError, match="3 per person per month"):
        buy(alice, 1, "a2")
    with refused(BusinessRuleError, match="quota"):
        buy(bob, 2, "b1")  # 3 + 2 > 4 today
    buy(bob, 1, "b2")
    tomorrow = now + timedelta(days=1)
    with refused(BusinessRuleError, match="stock"):
        buy(bob, 2, "b3", tomorrow)  # 1 left in stock
    assert offer.stock == 1
    assert ledger.balance(ledger.wallet_for(bob)) == 490
    assert ledger.check() == []


def test_void_within_the_window_then_only_staff(db, now, shop, make_user):
    merchant, offer, volunteer, operator = shop
    first = redemptions.redeem(
        ticket=sale(merchant, volunteer, now),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="v1",
        now=now,
    )
    with refused(InvalidInput):
        redemptions.void(first, actor=operator, reason=" ", now=now, as_staff=False)
    redemptions.void(
        first, actor=operator, reason="按错了", now=now + timedelta(minutes=29), as_staff=False
    )
    assert first.voided_at is not None and ledger.balance(ledger.wallet_for(volunteer)) == 100
    redemptions.void(first, actor=operator, reason="again", now=now, as_staff=False)  # no-op

    second = redemptions.redeem(
        ticket=sale(merchant, volunteer, now),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="v2",
        now=now,
    )
    late = now + timedelta(minutes=31)
    with refused(NotPermitted, match="Only staff"):
        redemptions.void(second, actor=operator, reason="迟了", now=late, as_staff=False)
    staff = make_user(communities=[volunteer.community])
    redemptions.void(second, actor=staff, reason="顾客投诉", now=late, as_staff=True)
    assert ledger.balance(ledger.wallet_for(volunteer)) == 100
    assert ledger.balance(ledger.merchant_account(merchant)) == 0
    assert ledger.check() == []


def test_a_void_gives_the_units_back(db, now, make_merchant, make_volunteer, make_community):
    community = make_community()
    merchant, offer = make_merchant(
        communities=[community], points_cost=10, stock=1, monthly_limit=1
    )
    volunteer = make_volunteer(community=community, points=100)
    done = redemptions.redeem(
        ticket=sale(merchant, volunteer, now),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=None,
        idempotency_key="g1",
        now=now,
    )
    assert offer.stock == 0
    redemptions.void(done, actor=volunteer, reason="退货", now=now, as_staff=True)
    assert offer.stock == 1
    redemptions.redeem(
        ticket=sale(merchant, volunteer, now),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=None,
        idempotency_key="g2",
        now=now,
    )


def test_another_merchants_redemption_is_not_found(db, now, shop, make_merchant):
    merchant, offer, volunteer, operator = shop
    done = redemptions.redeem(
        ticket=sale(merchant, volunteer, now),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="n1",
        now=now,
    )
    other, other_offer = make_merchant(communities=[volunteer.community])
    with refused(NotFound):
        redemptions.get_for_merchant(other, done.id)
    with refused(NotFound):
        redemptions.redeem(
            ticket=sale(merchant, volunteer, now),
            merchant=merchant,
            offer=other_offer,
            quantity=1,
            operator=operator,
            idempotency_key="n2",
            now=now,
        )


def test_offers_wait_for_staff_when_the_shop_needs_approval(db, now, make_merchant, make_user):
    merchant, _offer = make_merchant()
    merchant.offers_need_approval = True
    operator = make_user("merchant", merchant=merchant)
    fresh = offers.create_offer(
        merchant,
        offers.OfferFields(title="免费测血压", kind="service", points_cost=10),
        actor=operator,
        by_staff=False,
        now=now,
        source="merchant",
    )
    assert fresh.review == "pending"
    staff = make_user(kind="admin")
    with refused(InvalidInput):
        offers.review_offer(fresh, approve=False, note="", actor=staff, now=now)
    offers.review_offer(fresh, approve=True, note="", actor=staff, now=now)
    assert fresh.review == "live"
    # Stock and the on/off switch change without a new review; the cost does not.
    offers.update_offer(
        fresh,
        offers.OfferFields(title="免费测血压", kind="service", points_cost=10, stock=5),
        actor=operator,
        by_staff=False,
        now=now,
        source="merchant",
    )
    assert fresh.review == "live"
    offers.update_offer(
        fresh,
        offers.OfferFields(title="免费测血压", kind="service", points_cost=5, stock=5),
        actor=operator,
        by_staff=False,
        now=now,
        source="merchant",
    )
    assert fresh.review == "pending"


def test_catalogue_filters_and_limits(db, now, make_merchant, make_volunteer, make_community):
    community = make_community()
    make_merchant(
        communities=[community], tier="street", title="大米", kind="goods", points_cost=300
    )
    make_merchant(communities=[community], title="理发", points_cost=50, monthly_limit=2)
    make_merchant(title="别的社区的店", points_cost=1)
    volunteer = make_volunteer(community=community, points=100)
    everything = offers.catalogue(volunteer, now)
    assert [i.offer.title for i in everything] == ["大米", "理发"]
    assert [i.offer.title for i in offers.catalogue(volunteer, now, affordable_only=True)] == [
        "理发"
    ]
    assert [i.offer.title for i in offers.catalogue(volunteer, now, tier="street")] == ["大米"]
    assert everything[1].left_this_month == 2


def test_bad_offer_input_is_named(db, now, make_merchant):
    merchant, _ = make_merchant()
    for fields, name in [
        (offers.OfferFields(title="", kind="goods", points_cost=1), "title"),
        (offers.OfferFields(title="x", kind="gift", points_cost=1), "kind"),
        (offers.OfferFields(title="x", kind="goods", points_cost=0), "points_cost"),
        (
            offers.OfferFields(title="x", kind="goods", points_cost=1, max_quantity=0),
            "max_quantity",
        ),
        (
            offers.OfferFields(
                title="x", kind="goods", points_cost=1, valid_from=now, valid_to=now
            ),
            "valid_to",
        ),
    ]:
        with pytest.raises(InvalidInput) as caught:
            offers.create_offer(merchant, fields, actor=None, by_staff=True, now=now, source="t")
        assert caught.value.field == name


def test_code_ids_are_never_reused_after_old_codes_are_purged(db, now, shop):
    merchant, offer, volunteer, operator = shop
    first = redemptions.redeem(
        ticket=sale(merchant, volunteer, now),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="r1",
        now=now,
    )
    later = now + timedelta(hours=1)  # issuing a code now purges every expired one
    second = redemptions.redeem(
        ticket=sale(merchant, volunteer, later),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="r2",
        now=later,
    )
    assert second.code_id > first.code_id


def test_a_receipt_number_drawn_twice_refuses_the_second_sale_whole(
    db, now, shop, make_volunteer, monkeypatch
):
    merchant, offer, volunteer, operator = shop
    other = make_volunteer(community=volunteer.community, points=100)
    monkeypatch.setattr(redemptions, "_receipt_no", lambda _now: "R261115-0000000001")

    def buy(person, key):
        return redemptions.redeem(
            ticket=sale(merchant, person, now),
            merchant=merchant,
            offer=offer,
            quantity=1,
            operator=operator,
            idempotency_key=key,
            now=now,
        )

    assert buy(volunteer, "first").receipt_no == "R261115-0000000001"
    # The ledger's memo already names the receipt (ledger rows are append-only): the
    # second sale is refused whole, and the volunteer keeps their points.
    with refused(BusinessRuleError, match="confirm the sale once more"):
        buy(other, "second")
    assert ledger.balance(ledger.wallet_for(other)) == 100
    assert ledger.check() == []
