"""Short codes cannot be guessed: strike limits per person, shop, operator and activity,
counted in the database so that every worker counts together (issue 14, "Guessing")."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.activities import attendance, scan_codes
from app.models import OutboxMessage, Strike
from tests.test_chat_sms import messages, text, wrong_code


def test_wrong_check_in_codes_by_text_pause_the_sender(
    client, db, app_clock, gateway_token, make_activity, make_volunteer
):
    activity = make_activity(points=10, hours=2)
    make_volunteer(community=activity.community, phone="+8613800138000")
    code = scan_codes.short_code(activity, "in", app_clock())
    for _attempt in range(4):
        (reply,) = messages(
            text(client, "+8613800138000", f"签到 {wrong_code(activity, app_clock())}")
        )
        assert "没有活动显示这个码" in reply
    (reply,) = messages(text(client, "+8613800138000", f"签到 {wrong_code(activity, app_clock())}"))
    assert "15 分钟" in reply  # the fifth wrong code starts the pause, and says so
    # Paused: even the right code is not tried.
    (reply,) = messages(text(client, "+8613800138000", f"签到 {code}"))
    assert "签到成功" not in reply and "分钟后再试" in reply
    assert attendance.attendance_of(activity, _person(db, "+8613800138000")) is None
    app_clock.advance(minutes=15, seconds=1)
    code = scan_codes.short_code(activity, "in", app_clock())
    (reply,) = messages(text(client, "+8613800138000", f"签到 {code}"))
    assert "签到成功" in reply


def test_a_day_allows_ten_wrong_codes_in_all(
    client, db, app_clock, gateway_token, make_activity, make_volunteer
):
    activity = make_activity(points=10, hours=3)
    make_volunteer(community=activity.community, phone="+8613800138000")
    for _round in range(2):
        for _attempt in range(5):
            code = scan_codes.short_code(activity, "in", app_clock())
            messages(text(client, "+8613800138000", f"签到 {wrong_code(activity, app_clock())}"))
        app_clock.advance(minutes=16)
    code = scan_codes.short_code(activity, "in", app_clock())
    (reply,) = messages(text(client, "+8613800138000", f"签到 {code}"))
    assert "分钟后再试" in reply  # ten in the day: paused until the day's window ends
    app_clock.advance(hours=24)  # the day counted from the first wrong code
    activity = make_activity(
        community=activity.community, starts_in=timedelta(hours=24, minutes=32)
    )
    code = scan_codes.short_code(activity, "in", app_clock())
    (reply,) = messages(text(client, "+8613800138000", f"签到 {code}"))
    assert "签到成功" in reply


def test_a_flood_of_wrong_codes_for_an_activity_alerts_its_staff(
    client, db, app_clock, gateway_token, make_activity, make_volunteer, make_user
):
    activity = make_activity(points=10, hours=2)
    worker = make_user(communities=[activity.community])
    code = scan_codes.short_code(activity, "in", app_clock())
    for n in range(20):  # twenty people, four wrong codes each would be 80; one each is 20
        phone = f"+86139{n:08d}"
        make_volunteer(community=activity.community, phone=phone)
        messages(text(client, phone, f"签到 {wrong_code(activity, app_clock())}"))
    alerts = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "code_guessing")
    ).all()
    assert [a.person_id for a in alerts] == [worker.id] and activity.title in alerts[0].body
    # Nobody honest is shut out of the event: the right code still works for a newcomer.
    make_volunteer(community=activity.community, phone="+8613700000001")
    (reply,) = messages(text(client, "+8613700000001", f"签到 {code}"))
    assert "签到成功" in reply


def test_strikes_are_counted_atomically_in_one_row(db, now):
    from app.core import strikes

    limit = strikes.Limit("t", 3, timedelta(minutes=10), pause=timedelta(minutes=5))
    assert strikes.record([(limit, 7)], now) is None
    assert strikes.record([(limit, 7)], now) is None
    assert strikes.record([(limit, 7)], now) == now + timedelta(minutes=5)
    row = db.session.get(Strike, "t:7")
    assert row.count == 3
    # A window that has run out starts again at one.
    later = now + timedelta(minutes=11)
    assert strikes.record([(limit, 7)], later) is None
    db.session.refresh(row)
    assert row.count == 1
    # The daily clean-up forgets windows and pauses that have run out, and only those.
    assert strikes.purge(later) == 0
    assert strikes.purge(later + timedelta(minutes=11)) == 1


def _person(db, phone):
    from app.models import Person

    return db.session.scalar(sa.select(Person).filter_by(phone=phone))


def _shop_with_operator(make_community, make_merchant, make_volunteer, make_user):
    community = make_community("阳光社区")
    merchant, offer = make_merchant(communities=[community], name="老张理发店", points_cost=30)
    operator = make_user("merchant", merchant=merchant, name="老张")
    volunteer = make_volunteer(community=community, name="王小芳", points=100)
    return merchant, offer, operator, volunteer


def _type_code(client, merchant, code: str):
    from tests.conftest import csrf_from

    page = client.get(f"/m/{merchant.id}/redeem")
    return client.post(
        f"/m/{merchant.id}/redeem", data={"code": code, "csrf_token": csrf_from(page.text)}
    )


def test_wrong_codes_typed_at_a_shop_pause_the_operator_and_a_hit_is_not_usable(
    client, db, login, app_clock, make_community, make_merchant, make_volunteer, make_user
):
    from app.partners import personal_codes
    from app.points import ledger

    merchant, _offer, operator, volunteer = _shop_with_operator(
        make_community, make_merchant, make_volunteer, make_user
    )
    login(operator)
    issued = personal_codes.issue(volunteer, now=app_clock())
    wrong = [f"{n:08d}" for n in range(10) if f"{n:08d}" != issued.digits][:5]
    for code in wrong[:4]:
        assert "没有志愿者使用这个码" in _type_code(client, merchant, code).text
    assert "15 分钟后再试" in _type_code(client, merchant, wrong[4]).text
    # The guesser's hit is not tried while paused: no sale, the code stays the volunteer's.
    response = _type_code(client, merchant, issued.digits)
    assert response.status_code == 200 and "分钟后再试" in response.text
    assert ledger.balance(ledger.wallet_for(volunteer)) == 100
    assert personal_codes.use(issued.token, now=app_clock()).person_id == volunteer.id


def test_a_shop_allows_twenty_wrong_codes_a_day_across_operators_and_the_api(
    client, db, api, app_clock, make_community, make_merchant, make_volunteer, make_user
):
    merchant, offer, operator, volunteer = _shop_with_operator(
        make_community, make_merchant, make_volunteer, make_user
    )
    tills = [api(make_user("merchant", merchant=merchant, name=f"店员{n}")) for n in range(5)]
    phone = api(volunteer)
    for n in range(20):  # four from each of five tills: no till reaches its own limit
        till = tills[n % 5]
        answer = till.post(
            "/redemptions", {"code": f"{n:08d}", "offer_id": offer.id}, key=f"guess-{n}"
        )
        assert answer.status_code in (422, 429), answer.text
    code = phone.post("/me/redemption-code").get_json()["code"]
    answer = api(operator).post("/redemptions", {"code": code, "offer_id": offer.id}, key="real")
    assert answer.status_code == 429 and answer.get_json()["error"]["code"] == "too_many_attempts"
    app_clock.advance(hours=24, minutes=1)
    code = phone.post("/me/redemption-code").get_json()["code"]
    answer = api(operator).post("/redemptions", {"code": code, "offer_id": offer.id}, key="next")
    assert answer.status_code == 201, answer.text


def test_a_code_from_elsewhere_tells_the_shop_nothing(
    client, db, api, make_community, make_merchant, make_volunteer, make_user
):
    merchant, offer, operator, _volunteer = _shop_with_operator(
        make_community, make_merchant, make_volunteer, make_user
    )
    stranger = make_volunteer(community=make_community("东社区"), name="李四", points=500)
    code = api(stranger).post("/me/redemption-code").get_json()["code"]
    answer = api(operator).post("/redemptions", {"code": code, "offer_id": offer.id}, key="x")
    assert answer.status_code == 422
    message = answer.get_json()["error"]["message"]
    assert "东社区" not in message and "李" not in message and "不能在本店使用" in message


def test_a_refusal_for_too_few_points_does_not_tell_the_shop_the_balance(
    client, db, api, make_community, make_merchant, make_volunteer, make_user
):
    community = make_community()
    merchant, offer = make_merchant(communities=[community], points_cost=120)
    operator = make_user("merchant", merchant=merchant)
    volunteer = make_volunteer(community=community, points=109)
    code = api(volunteer).post("/me/redemption-code").get_json()["code"]
    answer = api(operator).post("/redemptions", {"code": code, "offer_id": offer.id}, key="k")
    assert answer.status_code == 422
    message = answer.get_json()["error"]["message"]
    assert "109" not in message and "120" not in message and "积分不足" in message


def test_one_telegram_chat_cannot_pump_sign_in_codes_to_many_phones(client, db, app_clock):
    from flask import current_app

    from tests.test_chat_telegram import SECRET, say

    current_app.config["TELEGRAM_WEBHOOK_SECRET"] = SECRET
    try:
        replies = [say(client, f"绑定 1380013{n:04d}")["text"] for n in range(12)]
    finally:
        current_app.config["TELEGRAM_WEBHOOK_SECRET"] = None
    assert all("验证码已发送" in reply for reply in replies[:3])
    assert all("分钟后再试" in reply for reply in replies[3:])
    sent = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "sign_in_code")
    ).all()
    assert len(sent) == 3


def test_wrong_passwords_for_one_account_from_many_addresses_back_off(
    client, db, app_clock, make_user
):
    from tests.conftest import csrf_from

    worker = make_user(login="li")

    def attempt(password: str, address: str):
        page = client.get("/login", environ_base={"REMOTE_ADDR": address})
        return client.post(
            "/login",
            data={"login": "li", "password": password, "csrf_token": csrf_from(page.text)},
            environ_base={"REMOTE_ADDR": address},
        )

    for n in range(4):
        assert "密码不正确" in attempt("guess", f"10.0.0.{n}").text
    response = attempt("guess", "10.0.0.9")  # the fifth: the account waits a minute
    assert response.status_code == 200
    locked = attempt("correct horse", "10.0.1.1")
    assert locked.status_code == 200 and "1 分钟后再试" in locked.text
    app_clock.advance(minutes=1, seconds=1)
    attempt("guess", "10.0.0.10")  # the sixth: two minutes
    app_clock.advance(minutes=1, seconds=1)
    assert "分钟后再试" in attempt("correct horse", "10.0.1.2").text
    app_clock.advance(minutes=1)
    ok = attempt("correct horse", "10.0.1.3")
    assert ok.status_code == 302 and worker.id


def test_signing_out_ends_the_session_cookie_and_the_remember_token(
    app, client, db, login, make_user
):
    worker = make_user(login="li")
    page = client.get("/login")
    from tests.conftest import csrf_from

    client.post(
        "/login",
        data={
            "login": "li",
            "password": "correct horse",
            "remember": "y",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert client.get("/panel/").status_code == 200
    session_cookie = client.get_cookie("session").value
    remember = client.get_cookie("remember_token").value
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/panel/").text)})
    assert client.get("/panel/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", session_cookie)
    assert replay.get("/panel/").status_code == 302  # the old session cookie opens nothing
    stolen = app.test_client()
    stolen.set_cookie("remember_token", remember)
    assert stolen.get("/panel/").status_code == 302  # nor the old remember-me token
    # A new password also ends every session.
    login(worker)
    assert client.get("/panel/").status_code == 200
    from app.people import people

    people.set_password(worker, "another long one")
    assert client.get("/panel/").status_code == 302
    # Deactivating an account ends its sessions at once.
    login(worker, "another long one")
    assert client.get("/panel/").status_code == 200
    worker.is_active_account = False
    assert client.get("/panel/").status_code == 302


@pytest.mark.committing
def test_parallel_wrong_guesses_are_all_counted(committed_app):
    """Ten workers' wrong guesses at once (real connections and commits): one row, ten
    strikes, and the pause starts at the fifth whoever made it."""
    from app.core import strikes
    from app.core.database import commit_unit_of_work
    from app.core.extensions import db as _db
    from tests.conftest import NOW, run_threads

    limit = strikes.Limit("race", 5, timedelta(minutes=10), pause=timedelta(minutes=15))

    def guess(_index: int):
        with committed_app.app_context():
            try:
                strikes.record([(limit, "shop-1")], NOW)
                commit_unit_of_work()
            finally:
                _db.session.remove()

    results = run_threads(10, guess)
    assert not [r for r in results if isinstance(r, Exception)]
    with committed_app.app_context():
        row = _db.session.get(Strike, "race:shop-1")
        assert row.count == 10 and row.locked_until == NOW + timedelta(minutes=15)
        _db.session.remove()
