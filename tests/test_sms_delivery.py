"""The outbox delivered through the SMS gateway adapter, against a fake gateway on 127.0.0.1."""

from datetime import timedelta

import pytest

from app.channels import delivery, outbox
from app.channels.sms import SendFailed, TwilioSmsSender
from app.people import signin


def test_sender_speaks_the_gateway_protocol(gateway):
    sender = TwilioSmsSender(gateway.url, gateway.account_sid, gateway.auth_token, "+8610690000")
    sid = sender.send("+8613800138000", "邻里登录验证码：123456")
    assert sid.startswith("SM")
    assert gateway.messages == [
        {
            "sid": sid,
            "To": "+8613800138000",
            "From": "+8610690000",
            "Body": "邻里登录验证码：123456",
        }
    ]


def test_bad_credentials_are_a_permanent_failure(gateway):
    sender = TwilioSmsSender(gateway.url, gateway.account_sid, "wrong", "+8610690000")
    with pytest.raises(SendFailed) as failed:
        sender.send("+8613800138000", "hi")
    assert failed.value.permanent and "401" in str(failed.value)


def test_a_code_is_delivered_and_a_busy_gateway_is_retried(db, now, gateway):
    message = signin.send_code("13800138077", now=now, locale="zh")
    gateway.fail_next(503)
    clock = lambda: now  # noqa: E731
    report = delivery.deliver([message.id], clock)
    assert (report.sent, report.retrying) == (0, 1)
    assert message.status == "pending" and "503" in message.last_error
    # Not due again yet; then due after the backoff.
    assert delivery.deliver_due(clock).sent == 0
    later = now + timedelta(seconds=31)
    assert delivery.deliver_due(lambda: later).sent == 1
    assert message.status == "sent" and message.attempts == 2
    assert gateway.messages[0]["To"] == "+8613800138077"
    assert "验证码" in gateway.messages[0]["Body"]
    assert message.body == "[code removed after sending]"  # the database keeps no code
    # Delivered once: nothing is sent twice.
    assert delivery.deliver_due(lambda: later + timedelta(hours=1)).sent == 0
    assert len(gateway.messages) == 1


def test_an_unreachable_gateway_gives_up_after_the_last_attempt(db, app, now):
    from tests.conftest import free_port

    app.config.update(
        SMS_GATEWAY_URL=f"http://127.0.0.1:{free_port()}",
        SMS_ACCOUNT_SID="AC1",
        SMS_AUTH_TOKEN="t",
        SMS_FROM="+861",
    )
    app.extensions.pop("linli_sms_sender", None)
    try:
        message = outbox.queue(phone="+8613800138078", kind="test", body="hi", now=now)
        moment = now
        for _ in range(outbox.MAX_ATTEMPTS):
            delivery.deliver([message.id], lambda: moment)  # noqa: B023
            moment += timedelta(hours=1)
        assert message.status == "failed" and "unreachable" in message.last_error
    finally:
        app.config.update(
            SMS_GATEWAY_URL=None, SMS_ACCOUNT_SID=None, SMS_AUTH_TOKEN=None, SMS_FROM=None
        )
        app.extensions.pop("linli_sms_sender", None)


def test_demo_mode_shows_messages_instead_of_sending(db, app, now):
    app.extensions.pop("linli_sms_sender", None)
    message = outbox.queue(phone="+8613800138079", kind="test", body="hi", now=now)
    assert delivery.deliver([message.id], lambda: now).sent == 1
    assert message.status == "shown"
