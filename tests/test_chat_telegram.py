"""The Telegram webhook: the secret header, linking by contact or by code, commands, once only."""

import copy
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.activities import attendance, scan_codes
from app.models import ChatLink, InboundMessage, OutboxMessage, Person

SAMPLES = Path(__file__).parent / "samples"
TEXT = json.loads((SAMPLES / "telegram_update_text.json").read_text())
CONTACT = json.loads((SAMPLES / "telegram_update_contact.json").read_text())
SECRET = "tg-webhook-secret-123"
_serial = iter(range(1, 1_000_000))


@pytest.fixture
def bot(app):
    app.config["TELEGRAM_WEBHOOK_SECRET"] = SECRET
    yield
    app.config["TELEGRAM_WEBHOOK_SECRET"] = None


def send(client, update: dict, *, secret: str = SECRET, new_id: bool = True):
    update = copy.deepcopy(update)
    if new_id:
        update["update_id"] = 900_000_000 + next(_serial)
    return client.post(
        "/chat/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": secret},
    )


def say(client, text: str, user: int = 5288413701):
    update = copy.deepcopy(TEXT)
    update["message"]["text"] = text
    update["message"]["from"]["id"] = user
    update["message"]["chat"]["id"] = user
    return send(client, update).get_json()


def test_wrong_or_missing_secret_is_403_and_nothing_processed(client, db, bot):
    assert send(client, TEXT, secret="guess").status_code == 403
    assert client.post("/chat/telegram/webhook", json=TEXT).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0


def test_no_secret_configured_means_no_updates(client, db):
    assert send(client, TEXT).status_code == 403


def test_linking_by_sharing_the_phone_number(client, db, app_clock, bot, make_volunteer):
    make_volunteer(name="张明", phone="+8613800138000", points=40)
    answer = say(client, "积分")
    assert answer["method"] == "sendMessage" and answer["chat_id"] == 5288413701
    assert answer["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    answer = send(client, CONTACT).get_json()
    assert "张明" in answer["text"]
    answer = say(client, "积分")
    assert "可用积分 40" in answer["text"]


def test_someone_elses_contact_is_not_accepted(client, db, app_clock, bot, make_volunteer):
    make_volunteer(phone="+8613800138000")
    update = copy.deepcopy(CONTACT)
    update["message"]["contact"]["user_id"] = 111
    answer = send(client, update).get_json()
    assert db.session.scalar(sa.select(ChatLink.person_id)) is None
    assert answer["reply_markup"]["keyboard"][0][0]["request_contact"] is True


def test_linking_by_a_texted_code(client, db, app_clock, bot, make_volunteer):
    make_volunteer(name="王芳", phone="+8613800138011")
    answer = say(client, "绑定 138 0013 8011", user=42)
    assert "发送到" in answer["text"] or "6" in answer["text"]
    message = db.session.scalar(sa.select(OutboxMessage).filter_by(recipient="+8613800138011"))
    code = re.search(r"\b\d{6}\b", message.body, re.ASCII).group()
    wrong = "000000" if code != "000000" else "111111"
    assert "还可尝试 4 次" in say(client, wrong, user=42)["text"]
    assert "王芳" in say(client, code, user=42)["text"]
    assert db.session.scalar(sa.select(ChatLink.person_id).filter_by(external_id="42"))


def test_a_retried_update_is_processed_once(client, db, app_clock, bot, make_volunteer):
    make_volunteer(phone="+8613800138000")
    send(client, CONTACT, new_id=False)
    update = copy.deepcopy(TEXT)
    update["update_id"] = 777
    update["message"]["text"] = "兑换码"
    first = send(client, update, new_id=False).get_json()
    again = send(client, update, new_id=False).get_json()
    assert "兑换码" in first["text"] and again == {}
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(InboundMessage).filter_by(external_id="777")
        )
        == 1
    )


def test_deep_link_check_in(client, db, app_clock, bot, make_activity, make_volunteer):
    activity = make_activity()
    make_volunteer(community=activity.community, phone="+8613800138000")
    send(client, CONTACT)
    code = scan_codes.short_code(activity, "in", app_clock())
    answer = say(client, f"/start ci_{activity.id}_{code}")
    assert "签到成功" in answer["text"]
    person = db.session.get(Person, db.session.scalar(sa.select(ChatLink.person_id)))
    assert attendance.attendance_of(activity, person) is not None


def test_updates_without_a_message_are_answered_with_nothing(client, db, bot):
    edit = {"update_id": 5, "edited_message": {"message_id": 1}}
    assert send(client, edit, new_id=False).get_json() == {}
    assert send(client, {"nonsense": True}, new_id=False).status_code == 400


def test_a_code_comes_as_a_qr_picture_telegram_can_fetch(
    client, db, app, app_clock, bot, make_volunteer
):
    import io

    import zxingcpp
    from PIL import Image

    make_volunteer(phone="+8613800138000")
    send(client, CONTACT)
    app.config["PUBLIC_URL"] = "https://linli.example.org"
    try:
        answer = say(client, "兑换码")
    finally:
        app.config["PUBLIC_URL"] = None
    assert answer["method"] == "sendPhoto" and "兑换码" in answer["caption"]
    path = answer["photo"].removeprefix("https://linli.example.org")
    picture = client.get(path)
    assert picture.status_code == 200 and picture.mimetype == "image/png"
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(picture.data)))
    assert path == f"/chat/qr/{found.text}.png"
    assert client.get("/chat/qr/forged.png").status_code == 404
