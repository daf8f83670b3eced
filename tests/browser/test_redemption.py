"""A redemption at the shop counter in a real browser: two phones, typed code and photo."""

import pytest

from tests.browser.conftest import (
    PHONE,
    no_horizontal_scroll,
    screenshot,
    sign_in_by_code,
    sign_in_by_password,
)
from tests.conftest import Clock

pytestmark = [pytest.mark.browser, pytest.mark.once, pytest.mark.committing]


@pytest.fixture
def counter(committed_app, now):
    """阳光社区, a barber with an operator and one offer, and 王小芳 with 100 points."""
    from app.core.database import commit_unit_of_work
    from app.core.extensions import db
    from app.models import Merchant, MerchantCommunity
    from app.partners import offers
    from app.people import org, people
    from app.points import awards, ledger

    clock = Clock(now)
    committed_app.config["LINLI_CLOCK"] = clock
    with committed_app.app_context():
        community = org.create_community("阳光社区")
        volunteer = people.create_person(
            name="王小芳",
            phone="13800138000",
            community=community,
            now=now,
            actor=None,
            source="test",
        )
        awards.award(
            volunteer,
            100,
            reason="助老服务",
            idempotency_key="seed",
            now=now,
            actor=None,
            source="test",
            notify=False,
        )
        merchant = Merchant(
            name="老张理发店", tier="community", category="理发", address="3号楼底商"
        )
        db.session.add(merchant)
        db.session.flush()
        db.session.add(MerchantCommunity(merchant_id=merchant.id, community_id=community.id))
        ledger.merchant_account(merchant)
        offers.create_offer(
            merchant,
            offers.OfferFields(title="老人免费理发", kind="service", points_cost=30),
            actor=None,
            by_staff=True,
            now=now,
            source="test",
        )
        people.create_user(
            kind="merchant",
            name="老张",
            phone="13900000020",
            password="correct horse",
            login="laozhang",
            merchant=merchant,
            now=now,
            actor=None,
            source="test",
        )
        commit_unit_of_work()
    yield clock
    committed_app.config.pop("LINLI_CLOCK", None)


def check(page, name: str) -> None:
    assert no_horizontal_scroll(page), name
    assert page.errors == [], page.errors
    screenshot(page, name)


def test_redeem_by_typed_code_and_by_photo(committed_app, live_server, counter, phone, browser):
    sign_in_by_code(phone, live_server, "13800138000")
    phone.goto(live_server + "/me/code")
    phone.locator(".qr-box svg").wait_for()
    digits = phone.locator("[data-digits]").inner_text().replace(" ", "")

    shop_context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
    shop = shop_context.new_page()
    shop.errors = []
    shop.on("pageerror", lambda exc: shop.errors.append(str(exc)))
    sign_in_by_password(shop, live_server, "laozhang")
    shop.get_by_role("link", name="积分兑换").first.click()
    check(shop, "shop-redeem")

    # 1. The typed code.
    shop.get_by_label("志愿者的 8 位兑换码").fill(digits)
    shop.get_by_role("button", name="查询").click()
    shop.wait_for_url("**/sale?t=*")
    assert "志愿者 王*芳" in shop.locator("h1").inner_text()
    assert "积分够用" in shop.locator(".sale-offer").inner_text()
    check(shop, "shop-sale")
    shop.get_by_role("button", name="确认：扣 30 积分").click()
    shop.wait_for_url("**/receipts/*")
    receipt = shop.locator(".receipt").inner_text()
    assert "兑换成功" in receipt and "老人免费理发 ×1" in receipt
    first_receipt = shop.locator(".receipt dd strong").inner_text()
    check(shop, "shop-receipt")

    # The same code again is refused with a message to refresh.
    shop.get_by_role("link", name="下一位志愿者").click()
    shop.get_by_label("志愿者的 8 位兑换码").fill(digits)
    shop.get_by_role("button", name="查询").click()
    assert "已被使用" in shop.locator(".field-error").inner_text()

    # 2. A photo of the QR code on the volunteer's screen.
    counter.advance(seconds=5)
    phone.get_by_role("button", name="刷新兑换码").click()
    phone.wait_for_function(
        "d => document.querySelector('[data-digits]').textContent.replace(' ', '') !== d",
        arg=digits,
    )
    photo = phone.locator(".qr-box").screenshot()
    shop.get_by_label("拍摄志愿者的二维码").set_input_files(
        files=[{"name": "code.png", "mimeType": "image/png", "buffer": photo}]
    )
    shop.wait_for_url("**/sale?t=*")  # the page sends the photo as soon as it is chosen
    shop.get_by_role("button", name="确认：扣 30 积分").click()
    shop.wait_for_url("**/receipts/*")
    assert shop.locator(".receipt dd strong").inner_text() != first_receipt

    # The volunteer sees both in the history, with the shop and receipt number.
    phone.goto(live_server + "/history")
    lines = phone.locator(".ledger-lines").inner_text()
    assert lines.count("老张理发店：老人免费理发") == 2 and first_receipt in lines
    check(phone, "volunteer-history-redeemed")

    with committed_app.app_context():
        from app.people import people
        from app.points import ledger

        person = people.get_by_phone("13800138000")
        assert ledger.balance(ledger.wallet_for(person)) == 40
        assert ledger.check() == []
    shop_context.close()
