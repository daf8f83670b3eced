"""Text messages: the gateway's signed form post in, TwiML out, every command, once only."""

import json
import re
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from app.activities import scan_codes
from app.chat.views import twilio_signature
from app.models import InboundMessage
from app.points import ledger
from tests.conftest import SMS_TOKEN

SAMPLE = json.loads((Path(__file__).parent / "samples/sms_inbound_twilio.json").read_text())
TOKEN = SMS_TOKEN

URL = "http://localhost/chat/sms/inbound"
_serial = iter(range(1_000_000))


def wrong_code(activity, now, kind="in") -> str:
    """A 4-digit code the activity's screen neither shows now nor showed one rotation ago."""
    current = scan_codes.rotation(now)
    shown = {
        scan_codes.short_code(activity, kind, now, rotation_no=p) for p in (current, current - 1)
    }
    return next(c for c in ("0000", "1111", "2222") if c not in shown)


def test_signature_matches_twilios_published_vector():
    params = {
        "CallSid": ["CA1234567890ABCDE"],
        "Caller": ["+14158675309"],
        "Digits": ["1234"],
        "From": ["+14158675309"],
        "To": ["+18005551212"],
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def text(
    client, phone: str, body: str, *, sid: str | None = None, token: str = TOKEN, to: str = ""
):
    form = {**SAMPLE, "From": phone, "Body": body, "MessageSid": sid or f"SM{next(_serial):032d}"}
    form["To"] = to or SAMPLE["To"]
    signature = twilio_signature(token, URL, {k: [v] for k, v in form.items()})
    return client.post("/chat/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})


def messages(response) -> list[str]:
    assert response.status_code == 200 and response.mimetype == "application/xml"
    return re.findall(r"<Message>(.*?)</Message>", response.text, re.S)


def test_balance_by_text(client, db, app_clock, gateway_token, make_volunteer):
    make_volunteer(name="张明", phone="+8613800138000", points=40)
    reply = "".join(messages(text(client, "+8613800138000", "积分")))
    assert "张明" in reply and "可用积分 40" in reply
    reply = "".join(messages(text(client, "13800138000", "ＢＡＬ")))  # the same person
    assert "可用积分 40" in reply


def test_a_wrong_or_missing_signature_is_refused_and_nothing_processed(
    client, db, app, gateway_token, make_volunteer
):
    make_volunteer(phone="+8613800138000")
    assert text(client, "+8613800138000", "积分", token="forged").status_code == 403
    form = {**SAMPLE}
    assert client.post("/chat/sms/inbound", data=form).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0


def test_outside_demo_mode_no_token_means_no_texts(client, db, app):
    app.config["DEMO_MODE"] = False
    try:
        assert client.post("/chat/sms/inbound", data=SAMPLE).status_code == 403
    finally:
        app.config["DEMO_MODE"] = True


def test_a_duplicate_delivery_is_processed_once(
    client, db, app_clock, gateway_token, make_volunteer
):
    person = make_volunteer(phone="+8613800138000", points=10)
    first = messages(text(client, "+8613800138000", "兑换码", sid="SMdup"))
    second = messages(text(client, "+8613800138000", "兑换码", sid="SMdup"))
    assert first == second  # the same code, not a second one
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1
    assert person.id


def test_check_in_and_out_with_the_screens_code(
    client, db, app_clock, gateway_token, make_activity, make_volunteer
):
    activity = make_activity(points=10, hours=2)
    person = make_volunteer(community=activity.community, phone="+8613800138000")
    code = scan_codes.short_code(activity, "in", app_clock())
    (reply,) = messages(text(client, "+8613800138000", f"签到 {code}"))
    assert "签到成功" in reply and "10:30" in reply
    (reply,) = messages(text(client, "+8613800138000", f"签到{code}"))
    assert "无需重复签到" in reply
    app_clock.advance(hours=2)
    out = scan_codes.short_code(activity, "out", app_clock())
    (reply,) = messages(text(client, "+8613800138000", f"CHECKOUT {out}"))
    assert "120" in reply
    assert ledger.balance(ledger.wallet_for(person)) == 10
    (reply,) = messages(text(client, "+8613800138000", f"签到 {wrong_code(activity, app_clock())}"))
    assert "没有活动显示这个码" in reply  # a wrong code: a clear answer, no trace


def test_events_join_history_top_shops_stop(
    client, db, app_clock, gateway_token, make_activity, make_volunteer, make_merchant
):
    activity = make_activity(starts_in=timedelta(days=1), capacity=5, title="周六义诊")
    person = make_volunteer(community=activity.community, phone="+8613800138000", points=30)
    make_merchant(communities=[activity.community], name="老张理发店", title="理发", points_cost=20)
    events = "\n".join(messages(text(client, "+8613800138000", "活动")))
    assert f"{activity.id}." in events and "周六义诊" in events
    (reply,) = messages(text(client, "+8613800138000", f"报名 {activity.id}"))
    assert "已报名" in reply
    assert "测试" in "".join(messages(text(client, "+8613800138000", "记录")))
    assert "1." in "".join(messages(text(client, "+8613800138000", "排行")))
    assert "老张理发店" in "".join(messages(text(client, "+8613800138000", "商家")))
    messages(text(client, "+8613800138000", "全部退订"))
    assert person.notifications_off
    messages(text(client, "+8613800138000", "START"))
    assert not person.notifications_off


def test_unknown_numbers_and_unknown_text_get_help(
    client, db, app_clock, gateway_token, make_volunteer
):
    reply = "".join(messages(text(client, "+8613999999999", "积分")))
    assert "没有登记" in reply
    make_volunteer(phone="+8613800138000")
    reply = "".join(messages(text(client, "+8613800138000", "你好呀")))
    assert "积分" in reply and "签到" in reply
