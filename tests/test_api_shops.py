"""API v1 for shops and volunteers: a code from the volunteer's token, redeemed by the shop's
till, voided; offers of one's own shops; rankings with public fields only."""

import pytest
import sqlalchemy as sa

from app.models import ChatLink, MerchantOperator, Offer, OutboxMessage, PersonalCode, Redemption
from app.people import people
from app.points import ledger
from tests.test_chat_delivery import linked


@pytest.fixture
def shop(db, make_community, make_merchant, make_volunteer, make_user, api):
    """A community, a shop serving it with a 30-point haircut, its operator's caller and a
    volunteer with 100 points and their caller."""
    community = make_community("阳光社区")
    merchant, offer = make_merchant(communities=[community], name="老张理发店", max_quantity=3)
    operator = make_user(kind="merchant", merchant=merchant, name="老张")
    volunteer = make_volunteer(community=community, name="张明", points=100)
    return {
        "community": community,
        "merchant": merchant,
        "offer": offer,
        "till": api(operator),
        "volunteer": volunteer,
        "phone": api(volunteer),
    }


def test_code_redeemed_by_the_till_once_then_voided(db, shop, app_clock):
    code = shop["phone"].post("/me/redemption-code")
    assert code.status_code == 201
    digits = code.get_json()["code"]
    assert len(digits) == 8 and digits.isdigit()

    body = {"code": digits, "offer_id": shop["offer"].id, "quantity": 2}
    sale = shop["till"].post("/redemptions", body, key="till-0001")
    assert sale.status_code == 201, sale.text
    receipt = sale.get_json()
    assert receipt["points"] == 60 and receipt["volunteer"] == "张*"
    assert ledger.balance(ledger.wallet_for(shop["volunteer"])) == 40

    # The till's retry after a lost answer: the same receipt, nothing spent twice.
    again = shop["till"].post("/redemptions", body, key="till-0001")
    assert again.get_json() == receipt
    # The same code under a new key: the code is used up.
    reused = shop["till"].post("/redemptions", body)
    assert reused.status_code == 422 and reused.get_json()["error"]["code"] == "code_expired"
    assert db.session.scalar(sa.select(sa.func.count(Redemption.id))) == 1

    listed = shop["till"].get("/redemptions", day="2026-11-15").get_json()
    assert [r["receipt_no"] for r in listed["items"]] == [receipt["receipt_no"]]
    assert shop["till"].get("/redemptions", day="2026-11-16").get_json()["items"] == []

    void = shop["till"].post(f"/redemptions/{receipt['id']}/void", {"reason": "顾客改主意"})
    assert void.status_code == 200 and void.get_json()["voided_at"]
    assert ledger.balance(ledger.wallet_for(shop["volunteer"])) == 100
    # After the operator's window only staff may void.
    second = shop["phone"].post("/me/redemption-code").get_json()["code"]
    late = shop["till"].post("/redemptions", {**body, "code": second}).get_json()
    app_clock.advance(minutes=31)
    refused = shop["till"].post(f"/redemptions/{late['id']}/void", {"reason": "太晚了"})
    assert refused.status_code == 403


def test_the_receipt_goes_by_the_volunteers_chat_and_never_to_a_phone_that_texted_stop(
    db, shop, app_clock
):
    from app.channels import outbox

    def sale(key):
        digits = shop["phone"].post("/me/redemption-code").get_json()["code"]
        body = {"code": digits, "offer_id": shop["offer"].id, "quantity": 1}
        assert shop["till"].post("/redemptions", body, key=key).status_code == 201

    def receipts():
        return db.session.execute(
            sa.select(OutboxMessage.channel, OutboxMessage.recipient)
            .filter_by(person_id=shop["volunteer"].id, kind="redemption")
            .order_by(OutboxMessage.id)
        ).all()

    volunteer = shop["volunteer"]
    sale("by-sms")
    # The channel is read with the volunteer when the code is spent: a chat linked since,
    # WeChat before Telegram, and a STOP from the phone count at the next sale.
    linked(db, volunteer, "5288413701")
    linked(db, volunteer, "oWx1", channel="wechat")
    sale("by-chat")
    db.session.execute(sa.delete(ChatLink).where(ChatLink.person_id == volunteer.id))
    outbox.stop_texts(volunteer.phone, app_clock())
    sale("stopped")  # the sale stands; no text goes to that number
    assert receipts() == [("sms", volunteer.phone), ("wechat", "oWx1")]


def test_not_enough_points_is_refused_and_the_code_stays_good(db, shop):
    expensive = Offer(
        merchant_id=shop["merchant"].id, title="染发", kind="service", points_cost=150
    )
    db.session.add(expensive)
    db.session.flush()
    digits = shop["phone"].post("/me/redemption-code").get_json()["code"]
    refused = shop["till"].post("/redemptions", {"code": digits, "offer_id": expensive.id})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "insufficient_points"
    assert db.session.scalar(sa.select(PersonalCode.used_at).filter_by(digits=digits)) is None
    fine = shop["till"].post("/redemptions", {"code": digits, "offer_id": shop["offer"].id})
    assert fine.status_code == 201


def test_a_shop_sees_and_redeems_only_its_own_offers(db, shop, make_merchant, api, make_user):
    other, other_offer = make_merchant(communities=[shop["community"]], name="王记超市")
    listing = shop["till"].get("/offers").get_json()
    assert [item["id"] for item in listing["items"]] == [shop["offer"].id]
    assert listing["next_cursor"] is None
    assert shop["till"].get("/offers", merchant_id=other.id).status_code == 404
    digits = shop["phone"].post("/me/redemption-code").get_json()["code"]
    sale = shop["till"].post("/redemptions", {"code": digits, "offer_id": other_offer.id})
    assert sale.status_code == 404
    assert shop["phone"].post("/redemptions", {"code": digits, "offer_id": 1}).status_code == 403


def test_offers_made_by_a_shop_wait_for_review_when_its_offers_need_approval(
    db, shop, make_user, api
):
    shop["merchant"].offers_need_approval = True
    db.session.flush()
    body = {"title": "洗剪吹", "kind": "service", "points_cost": 40, "daily_quota": 5}
    made = shop["till"].post("/offers", body)
    assert made.status_code == 201 and made.get_json()["review"] == "pending"
    staff = api(make_user(communities=[shop["community"]]))
    by_staff = staff.post("/offers", {**body, "merchant_id": shop["merchant"].id})
    assert by_staff.status_code == 201 and by_staff.get_json()["review"] == "live"
    unnamed = staff.post("/offers", body)  # staff must say which shop
    assert unnamed.status_code == 400 and "merchant_id" in unnamed.get_json()["error"]["fields"]
    outsider = api(make_user())
    assert outsider.post("/offers", {**body, "merchant_id": shop["merchant"].id}).status_code == 404
    bad = shop["till"].post("/offers", {**body, "kind": "gift", "points_cost": 0})
    assert bad.status_code == 400
    assert set(bad.get_json()["error"]["fields"]) == {"kind", "points_cost"}


def test_offers_are_listed_in_keyset_pages(db, shop, make_user, api):
    for n in range(4):
        assert (
            shop["till"]
            .post("/offers", {"title": f"服务{n}", "kind": "service", "points_cost": 10})
            .status_code
            == 201
        )
    titles, cursor = [], None
    while True:
        page = shop["till"].get("/offers", limit=2, **({"cursor": cursor} if cursor else {}))
        titles += [item["title"] for item in page.get_json()["items"]]
        cursor = page.get_json()["next_cursor"]
        if not cursor:
            break
    assert titles == ["理发", "服务0", "服务1", "服务2", "服务3"]


def test_an_operator_of_two_shops_redeems_by_the_offer_which_names_its_shop(
    db, shop, make_merchant
):
    second, other_offer = make_merchant(communities=[shop["community"]], name="张记修车")
    operator_id = db.session.scalar(
        sa.select(MerchantOperator.person_id).filter_by(merchant_id=shop["merchant"].id)
    )
    db.session.add(MerchantOperator(merchant_id=second.id, person_id=operator_id))
    db.session.flush()
    digits = shop["phone"].post("/me/redemption-code").get_json()["code"]
    # A shop named that is not the offer's: the offer is not found there, the code unspent.
    wrong = shop["till"].post(
        "/redemptions", {"code": digits, "offer_id": shop["offer"].id, "merchant_id": second.id}
    )
    assert wrong.status_code == 404 and "offer_id" in wrong.get_json()["error"]["fields"]
    first = shop["till"].post("/redemptions", {"code": digits, "offer_id": shop["offer"].id})
    assert first.status_code == 201 and first.get_json()["merchant_id"] == shop["merchant"].id
    digits = shop["phone"].post("/me/redemption-code").get_json()["code"]
    sale = shop["till"].post("/redemptions", {"code": digits, "offer_id": other_offer.id})
    assert sale.status_code == 201 and sale.get_json()["merchant_id"] == second.id


@pytest.mark.any_day
def test_rankings_show_public_fields_only(db, shop, make_volunteer):
    community = shop["community"]
    make_volunteer(community=community, name="李秀英", points=300)
    hidden = make_volunteer(community=community, name="王小二", points=200)
    people.set_preferences(hidden, hide_from_boards=True, locale="zh", now=hidden.created_at)
    board = shop["phone"].get("/rankings", scope=f"community:{community.id}").get_json()
    assert board["scope"] == f"community:{community.id}"
    assert [(line["position"], line["name"], line["score"]) for line in board["items"]] == [
        (1, "李*英", 300),
        (2, "张*", 100),
    ]
    assert set(board["items"][0]) == {"position", "name", "score", "members", "honours"}
    teams = shop["phone"].get("/rankings", board="teams", scope=f"community:{community.id}")
    assert teams.status_code == 200 and teams.get_json()["items"] == []
    street_wide = shop["phone"].get("/rankings", board="households")
    assert street_wide.status_code == 400 and "scope" in street_wide.get_json()["error"]["fields"]
    bad = shop["phone"].get("/rankings", scope="planet:3", period="week")
    assert bad.status_code == 400
    assert set(bad.get_json()["error"]["fields"]) == {"scope", "period"}
