"""Notifications over each person's channel, against a fake Bot API and SMS gateway on
127.0.0.1: retries with back-off, a server that never answers, 退订, quiet hours."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.channels import delivery, outbox
from app.models import ChatLink, OutboxMessage
from app.people import signin
from app.points import awards
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram_api import FakeTelegramApi


@pytest.fixture
def bot_api(app):
    with FakeTelegramApi() as fake:
        app.config.update(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_URL=fake.url, SEND_TIMEOUT=1)
        app.extensions.pop("linli_telegram_sender", None)
        yield fake
        app.config.update(
            TELEGRAM_BOT_TOKEN=None, TELEGRAM_API_URL="https://api.telegram.org", SEND_TIMEOUT=10
        )
        app.extensions.pop("linli_telegram_sender", None)


def linked(db, person, chat_id="5288413701", channel="telegram"):
    db.session.add(
        ChatLink(
            channel=channel,
            external_id=chat_id,
            chat_id=chat_id,
            person_id=person.id,
            created_at=datetime.now(UTC),
        )
    )
    db.session.flush()


def award(person, now, key="k"):
    awards.award(
        person, 10, reason="楼道清洁", idempotency_key=key, now=now, actor=None, source="test"
    )
    return db_message(person)


def db_message(person):
    from app.core.extensions import db

    return db.session.scalar(
        sa.select(OutboxMessage).filter_by(person_id=person.id).order_by(OutboxMessage.id.desc())
    )


def test_a_linked_person_is_told_on_telegram(db, now, bot_api, make_volunteer):
    person = make_volunteer(points=0)
    linked(db, person)
    message = award(person, now)
    assert (message.channel, message.recipient) == ("telegram", "5288413701")
    report = delivery.deliver([message.id], lambda: now)
    assert report.sent == 1 and message.status == "sent"
    method, payload = bot_api.calls[0]
    assert method == "sendMessage" and payload["chat_id"] == 5288413701
    assert "楼道清洁" in payload["text"]


def test_the_message_picks_its_channel_wechat_first_and_never_a_stopped_number(
    db, now, make_volunteer
):
    person = make_volunteer(phone="+8613800138000")
    message = outbox.queue(kind="sign_in_code", body="1", now=now, phone="+8613900139000")
    assert (message.channel, message.recipient) == ("sms", "+8613900139000")
    message = outbox.queue(kind="points", body="2", now=now, person=person)
    assert (message.channel, message.recipient, message.status) == (
        "sms",
        "+8613800138000",
        "pending",
    )
    outbox.stop_texts("+8613800138000", now)
    assert outbox.queue(kind="points", body="3", now=now, person=person) is None
    assert outbox.queue(kind="sign_in_code", body="4", now=now, phone=person.phone) is None
    # A chat still reaches a person whose number texted STOP; WeChat before Telegram,
    # whichever was linked first.
    linked(db, person, "5288413701")
    linked(db, person, "oWx1", channel="wechat")
    message = outbox.queue(kind="points", body="5", now=now, person=person)
    assert (message.channel, message.recipient, message.body) == ("wechat", "oWx1", "5")
    assert message.id == db_message(person).id and message.created_at == now


def test_a_bot_api_failing_twice_then_answering_delivers_once(db, now, bot_api, make_volunteer):
    person = make_volunteer()
    linked(db, person)
    message = award(person, now)
    bot_api.failures = [502, 429]
    moment = now
    for expected in ("pending", "pending", "sent"):
        delivery.deliver([message.id], lambda: moment)  # noqa: B023
        assert message.status == expected
        moment += timedelta(minutes=5)
    assert message.attempts == 3 and len(bot_api.calls) == 1


def test_a_server_that_never_answers_is_tried_again_later(db, now, bot_api, make_volunteer):
    person = make_volunteer()
    linked(db, person)
    message = award(person, now)
    bot_api.silent.set()
    report = delivery.deliver([message.id], lambda: now)  # gives up after SEND_TIMEOUT
    assert report.retrying == 1 and message.status == "pending"
    assert "unreachable" in message.last_error and message.next_attempt_at > now
    bot_api.silent.clear()
    bot_api.release.set()
    delivery.deliver_due(lambda: now + timedelta(minutes=5))
    assert message.status == "sent"


def test_stop_drops_notifications_but_never_sign_in_codes(db, now, make_volunteer):
    person = make_volunteer(phone="+8613800138066")
    person.notifications_off = True
    awards.award(person, 10, reason="x", idempotency_key="s", now=now, actor=None, source="t")
    assert db_message(person) is None
    code = signin.send_code("13800138066", now=now, locale="zh")
    assert code.channel == "sms" and code.next_attempt_at == now


def test_quiet_hours_hold_notifications_until_seven(db, make_volunteer):
    person = make_volunteer()
    late = datetime(2026, 11, 15, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    message = outbox.queue(person=person, kind="points_earned", body="hi", now=late)
    assert message.next_attempt_at == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)  # 07:00 next day
    early = datetime(2026, 11, 15, 21, 0, tzinfo=UTC)  # 05:00
    assert outbox.queue(
        person=person, kind="points_earned", body="hi", now=early
    ).next_attempt_at == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)
    noon = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)
    assert (
        outbox.queue(person=person, kind="points_earned", body="hi", now=noon).next_attempt_at
        == noon
    )


def test_sms_gateway_failing_twice_then_succeeding(db, app, now, make_volunteer):
    with FakeSmsGateway() as gateway:
        app.config.update(
            SMS_GATEWAY_URL=gateway.url,
            SMS_ACCOUNT_SID=gateway.account_sid,
            SMS_AUTH_TOKEN=gateway.auth_token,
            SMS_FROM="+8610690000",
        )
        app.extensions.pop("linli_sms_sender", None)
        try:
            person = make_volunteer()
            message = award(person, now)
            gateway.fail_next(503, 500)
            moment = now
            for _ in range(3):
                delivery.deliver_due(lambda: moment)  # noqa: B023
                moment += timedelta(minutes=5)
            assert message.status == "sent" and len(gateway.messages) == 1
        finally:
            app.config.update(
                SMS_GATEWAY_URL=None, SMS_ACCOUNT_SID=None, SMS_AUTH_TOKEN=None, SMS_FROM=None
            )
            app.extensions.pop("linli_sms_sender", None)


def test_set_webhook_registers_our_url_and_secret(app, db, bot_api):
    app.config["TELEGRAM_WEBHOOK_SECRET"] = "tg-secret"
    try:
        result = app.test_cli_runner().invoke(
            args=["telegram", "set-webhook", "https://linli.example.org/chat/telegram/webhook"]
        )
    finally:
        app.config["TELEGRAM_WEBHOOK_SECRET"] = None
    assert result.exit_code == 0, result.output
    method, payload = bot_api.calls[-1]
    assert method == "setWebhook" and payload["secret_token"] == "tg-secret"
    assert payload["url"] == "https://linli.example.org/chat/telegram/webhook"
    refused = app.test_cli_runner().invoke(args=["telegram", "set-webhook", "http://x/"])
    assert refused.exit_code == 1


def test_an_hour_before_an_activity_its_volunteers_are_reminded_once(
    db, now, make_activity, make_volunteer
):
    from app.activities import activities

    activity = make_activity(starts_in=timedelta(minutes=90), title="周六义诊", place="卫生服务站")
    person = make_volunteer(community=activity.community)
    activities.sign_up(activity, person, now=now)
    assert activities.send_reminders(now) == 0  # 90 minutes ahead: not yet
    later = now + timedelta(minutes=31)
    assert activities.send_reminders(later) == 1
    assert activities.send_reminders(later) == 0  # once
    message = db_message(person)
    assert message.kind == "activity_reminder" and "周六义诊" in message.body
    assert message.next_attempt_at == later


def test_a_waiting_adjustment_tells_the_other_staff(db, now, make_volunteer, make_user):
    from app.points import deeds

    person = make_volunteer()
    maker = make_user(communities=[person.community], name="李社工")
    checker = make_user(communities=[person.community], name="王社工", phone="13900000321")
    deeds.propose_adjustment(
        person, 500, reason="补录", maker=maker, community_ids=None, idempotency_key="n", now=now
    )
    told = db_message(checker)
    assert told.kind == "approval_needed" and "李社工" in told.body and "+500" in told.body
    assert db_message(maker) is None
