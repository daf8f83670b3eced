"""The red partner's phone pages through the test client: redeem by typed code and by
photo, receipts, voids, history, statements, offers; and the volunteer's catalogue."""

import io
import re

import pytest
import qrcode

from app.models import Redemption
from app.partners import personal_codes
from app.points import ledger
from tests.conftest import csrf_from


@pytest.fixture
def counter(db, client, login, app_clock, make_merchant, make_volunteer, make_community, make_user):
    """A shop with an operator signed in on the client, and a volunteer with 100 points."""
    community = make_community("阳光社区")
    merchant, offer = make_merchant(
        communities=[community], name="老张理发店", title="洗剪吹", points_cost=30
    )
    volunteer = make_volunteer(community=community, name="王小芳", points=100)
    operator = make_user("merchant", merchant=merchant, name="老张")
    login(operator)
    return merchant, offer, volunteer


def png_of(text: str) -> bytes:
    buffer = io.BytesIO()
    qrcode.make(text).save(buffer, "PNG")
    return buffer.getvalue()


def start_by_code(client, merchant, text: str):
    page = client.get(f"/m/{merchant.id}/redeem")
    return client.post(
        f"/m/{merchant.id}/redeem", data={"code": text, "csrf_token": csrf_from(page.text)}
    )


def confirm(client, sale_url: str, offer, quantity=1):
    page = client.get(sale_url)
    key = re.search(r'name="key" value="([^"]+)"', page.text).group(1)
    token = re.search(r'name="t" value="([^"]+)"', page.text).group(1)
    data = {
        "csrf_token": csrf_from(page.text),
        "t": token,
        "offer": offer.id,
        "quantity": quantity,
        "key": key,
    }
    return page, data, client.post(sale_url.split("?")[0], data=data)


def test_operator_lands_on_their_shop(client, counter):
    merchant, _offer, _volunteer = counter
    response = client.get("/m/")
    assert response.headers["Location"] == f"/m/{merchant.id}/"
    assert "老张理发店" in client.get(f"/m/{merchant.id}/").text


def test_redeem_by_typed_code(client, db, now, counter):
    merchant, offer, volunteer = counter
    issued = personal_codes.issue(volunteer, now=now)
    response = start_by_code(client, merchant, f"{issued.digits[:3]} {issued.digits[3:]}")
    assert response.status_code == 302 and "/sale?t=" in response.headers["Location"]
    page, data, done = confirm(client, response.headers["Location"], offer)
    assert "王*芳" in page.text and "积分够用" in page.text
    assert volunteer.phone not in page.text and "100" not in page.text  # never the balance
    assert done.status_code == 302
    receipt = client.get(done.headers["Location"])
    row = db.session.query(Redemption).one()
    assert row.receipt_no in receipt.text and "兑换成功" in receipt.text
    # A double tap posts the same form again: the same receipt, nothing charged twice.
    again = client.post(page.request.path, data=data)
    assert again.headers["Location"] == done.headers["Location"]
    assert ledger.balance(ledger.wallet_for(volunteer)) == 70
    # The volunteer's history shows the shop and the receipt number.
    assert ledger.check() == []


def test_redeem_by_photo(client, now, counter):
    merchant, offer, volunteer = counter
    issued = personal_codes.issue(volunteer, now=now)
    page = client.get(f"/m/{merchant.id}/redeem")
    response = client.post(
        f"/m/{merchant.id}/redeem/photo",
        data={
            "p-csrf_token": csrf_from(page.text),
            "p-photo": (io.BytesIO(png_of(issued.token)), "code.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302 and "/sale?t=" in response.headers["Location"]
    _page, _data, done = confirm(client, response.headers["Location"], offer)
    assert done.status_code == 302
    assert ledger.balance(ledger.wallet_for(volunteer)) == 70


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not an image at all", "无法读取这张照片"),
        (None, "没有找到二维码"),
        (png_of("https://example.com/not-ours"), "不是邻里志愿者兑换码"),
    ],
)
def test_bad_photos_are_explained_and_charge_nothing(client, counter, payload, message):
    from PIL import Image

    merchant, _offer, volunteer = counter
    if payload is None:  # a photo with no QR code in it
        buffer = io.BytesIO()
        Image.new("RGB", (200, 200), "white").save(buffer, "PNG")
        payload = buffer.getvalue()
    page = client.get(f"/m/{merchant.id}/redeem")
    response = client.post(
        f"/m/{merchant.id}/redeem/photo",
        data={"p-csrf_token": csrf_from(page.text), "p-photo": (io.BytesIO(payload), "x.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and message in response.text
    assert ledger.balance(ledger.wallet_for(volunteer)) == 100


@pytest.mark.parametrize(
    ("code", "message"), [("12345", "8 位"), ("00000000", "没有志愿者使用这个码")]
)
def test_bad_typed_codes_are_explained(client, counter, code, message):
    merchant, _offer, _volunteer = counter
    response = start_by_code(client, merchant, code)
    assert response.status_code == 200 and message in response.text


def test_a_used_or_expired_code_says_refresh(client, app_clock, counter):
    merchant, _offer, volunteer = counter
    issued = personal_codes.issue(volunteer, now=app_clock())
    assert start_by_code(client, merchant, issued.digits).status_code == 302
    response = start_by_code(client, merchant, issued.digits)
    assert "已被使用" in response.text and "刷新" in response.text
    late = personal_codes.issue(volunteer, now=app_clock())
    app_clock.advance(seconds=61)
    response = start_by_code(client, merchant, late.digits)
    assert "已过期" in response.text


def test_void_within_the_window_and_not_after(client, db, app_clock, counter):
    merchant, offer, volunteer = counter

    def buy():
        issued = personal_codes.issue(volunteer, now=app_clock())
        _p, _d, done = confirm(
            client, start_by_code(client, merchant, issued.digits).headers["Location"], offer
        )
        return done.headers["Location"]

    receipt_url = buy()
    page = client.get(receipt_url)
    assert "撤销这笔兑换" in page.text
    client.post(
        receipt_url + "/void", data={"reason": "按错了", "csrf_token": csrf_from(page.text)}
    )
    assert "已撤销" in client.get(receipt_url).text
    assert ledger.balance(ledger.wallet_for(volunteer)) == 100

    receipt_url = buy()
    app_clock.advance(minutes=31)
    page = client.get(receipt_url)
    assert "请联系社区工作人员" in page.text
    response = client.post(
        receipt_url + "/void", data={"reason": "迟了", "csrf_token": csrf_from(page.text)}
    )
    assert "只有工作人员可以撤销" in client.get(response.headers["Location"]).text
    assert ledger.balance(ledger.wallet_for(volunteer)) == 70


def test_another_shops_pages_and_receipts_are_not_found(
    client, now, counter, make_merchant, login, make_user
):
    merchant, offer, volunteer = counter
    issued = personal_codes.issue(volunteer, now=now)
    _p, _d, done = confirm(
        client, start_by_code(client, merchant, issued.digits).headers["Location"], offer
    )
    receipt_url = done.headers["Location"]
    other, _ = make_merchant(communities=[volunteer.community])
    assert client.get(f"/m/{other.id}/").status_code == 404
    assert client.get(f"/m/{other.id}/history").status_code == 404
    rid = receipt_url.rsplit("/", 1)[1]
    assert client.get(f"/m/{other.id}/receipts/{rid}").status_code == 404
    # The other shop's own operator cannot open this shop's receipt under their shop either.
    client.post("/logout", data={"csrf_token": csrf_from(client.get(f"/m/{merchant.id}/").text)})
    login(make_user("merchant", merchant=other))
    assert client.get(f"/m/{other.id}/receipts/{rid}").status_code == 404
    assert client.get(receipt_url).status_code == 404


def test_history_statement_and_csv(client, now, counter):
    merchant, offer, volunteer = counter
    issued = personal_codes.issue(volunteer, now=now)
    confirm(client, start_by_code(client, merchant, issued.digits).headers["Location"], offer)
    history = client.get(f"/m/{merchant.id}/history")
    assert "洗剪吹" in history.text and "王*芳" in history.text
    statement = client.get(f"/m/{merchant.id}/statement?month=2026-11")
    assert "收到积分：30" in statement.text
    csv = client.get(f"/m/{merchant.id}/statement.csv?month=2026-11")
    text = csv.data.decode("utf-8")
    assert text.startswith("\ufeff") and "洗剪吹" in text and "王*芳" in text
    assert volunteer.phone not in text
    assert client.get(f"/m/{merchant.id}/statement?month=2026-13").status_code == 404


def test_operator_adds_an_offer_with_a_photo_that_waits_for_staff(client, db, counter):
    from PIL import Image

    merchant, _offer, _volunteer = counter
    merchant.offers_need_approval = True
    page = client.get(f"/m/{merchant.id}/offers/new")
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), "red").save(buffer, "JPEG")
    response = client.post(
        f"/m/{merchant.id}/offers/new",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "老人免费剪发",
            "kind": "service",
            "points_cost": "50",
            "money_value": "20.00",
            "max_quantity": "1",
            "monthly_limit": "1",
            "active": "y",
            "photo": (io.BytesIO(buffer.getvalue()), "hair.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    listing = client.get(f"/m/{merchant.id}/offers")
    assert "老人免费剪发" in listing.text and "等待审核" in listing.text
    created = [o for o in merchant.offers if o.title == "老人免费剪发"][0]
    assert created.money_value_fen == 2000 and created.photo.endswith(".jpg")
    assert client.get(f"/offers/photo/{created.photo}").status_code == 200
    # Bad input is named on the form.
    response = client.post(
        f"/m/{merchant.id}/offers/new",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "x",
            "kind": "goods",
            "points_cost": "0",
        },
    )
    assert response.status_code == 200 and "field-error" in response.text


def test_volunteer_catalogue(client, db, login, counter, make_merchant):
    from app.people import people

    merchant, _offer, volunteer = counter
    make_merchant(
        communities=[volunteer.community], tier="street", title="大米5公斤", points_cost=300
    )
    client.post("/logout", data={"csrf_token": csrf_from(client.get(f"/m/{merchant.id}/").text)})
    people.set_password(volunteer, "correct horse")
    login(volunteer)
    page = client.get("/offers")
    assert "洗剪吹" in page.text and "大米5公斤" in page.text
    # What is missing, to the volunteer alone (the shop's page only says "not enough").
    balance = ledger.find_wallet(volunteer).balance
    assert f"还差 {300 - balance} 积分" in page.text
    page = client.get("/offers?affordable=1")
    assert "洗剪吹" in page.text and "大米5公斤" not in page.text
    page = client.get("/offers?tier=street")
    assert "大米5公斤" in page.text and "洗剪吹" not in page.text


def test_staff_approve_offers_and_void_any_time(client, db, app_clock, login, make_user, counter):
    from app.partners import offers

    merchant, offer, volunteer = counter
    issued = personal_codes.issue(volunteer, now=app_clock())
    _p, _d, done = confirm(
        client, start_by_code(client, merchant, issued.digits).headers["Location"], offer
    )
    merchant.offers_need_approval = True
    waiting = offers.create_offer(
        merchant,
        offers.OfferFields(title="老人免费剪发", kind="service", points_cost=50),
        actor=None,
        by_staff=False,
        now=app_clock(),
        source="test",
    )
    client.post("/logout", data={"csrf_token": csrf_from(client.get(f"/m/{merchant.id}/").text)})
    login(make_user(communities=[volunteer.community]))
    listing = client.get("/panel/merchants")
    assert "老人免费剪发" in listing.text
    client.post(
        f"/panel/merchants/{merchant.id}/offers/{waiting.id}/review",
        data={"decision": "approve", "back": "list", "csrf_token": csrf_from(listing.text)},
    )
    assert waiting.review == "live"
    app_clock.advance(hours=5)
    rid = done.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/panel/merchants/{merchant.id}")
    client.post(
        f"/panel/merchants/{merchant.id}/redemptions/{rid}/void",
        data={"reason": "顾客投诉", "csrf_token": csrf_from(page.text)},
    )
    assert ledger.balance(ledger.wallet_for(volunteer)) == 100
    assert ledger.check() == []


def test_staff_edit_a_shops_offer_and_it_goes_live(client, db, login, make_user, counter):
    merchant, offer, volunteer = counter
    merchant.offers_need_approval = True
    client.post("/logout", data={"csrf_token": csrf_from(client.get(f"/m/{merchant.id}/").text)})
    login(make_user(communities=[volunteer.community]))
    page = client.get(f"/panel/merchants/{merchant.id}/offers/{offer.id}/edit")
    assert 'value="洗剪吹"' in page.text
    response = client.post(
        f"/panel/merchants/{merchant.id}/offers/{offer.id}/edit",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "洗剪吹（老人半价）",
            "kind": "service",
            "points_cost": "15",
            "max_quantity": "1",
            "valid_to": "2026-12-31",
            "active": "y",
        },
    )
    assert response.status_code == 302
    assert offer.title == "洗剪吹（老人半价）" and offer.points_cost == 15
    assert offer.review == "live"  # staff changes need no second look
    assert offer.valid_to.isoformat() == "2026-12-31T16:00:00+00:00"  # end of the day, Shanghai
    # Another community's staff cannot reach this shop.
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/panel/").text)})
    login(make_user(phone="13900009999"))
    assert client.get(f"/panel/merchants/{merchant.id}").status_code == 404


def test_a_camera_frame_is_read_on_the_server_for_the_operators_own_shop_only(
    client, db, counter, now, make_merchant
):
    """The live camera without BarcodeDetector: frames in, the code's text out; the sale
    itself still starts through the code form (its strikes and limits)."""
    merchant, _offer, volunteer = counter
    issued = personal_codes.issue(volunteer, now=now)
    token = csrf_from(client.get(f"/m/{merchant.id}/redeem").text)
    headers = {"X-CSRFToken": token, "Content-Type": "image/png"}
    url = f"/m/{merchant.id}/redeem/frame"
    read = client.post(url, data=png_of(issued.token), headers=headers)
    assert read.status_code == 200 and read.get_json() == {"found": True, "text": issued.token}
    blank = client.post(url, data=png_of("")[:10], headers=headers)  # no picture, no code
    assert blank.get_json() == {"found": False}
    assert client.post(url, data=png_of(issued.token)).status_code == 400  # no CSRF token
    too_big = client.post(url, data=b"\0" * (300 * 1024 + 1), headers=headers)
    assert too_big.status_code == 413
    other, _ = make_merchant(name="别人的店")
    assert client.post(f"/m/{other.id}/redeem/frame", data=b"x", headers=headers).status_code == 404
    # Reading a frame changes nothing: the code is still good for the sale.
    assert "/sale?t=" in start_by_code(client, merchant, issued.token).headers["Location"]
