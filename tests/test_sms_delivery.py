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


def test_the_gateways_message_id_is_kept(db, now, gateway):
    message = outbox.queue(phone="+8613800138080", kind="test", body="您好", now=now)
    assert delivery.deliver([message.id], lambda: now).sent == 1
    assert message.provider_id == gateway.messages[0]["sid"]


def test_a_gateways_retry_after_is_honoured_over_the_backoff(db, now, gateway):
    message = outbox.queue(phone="+8613800138081", kind="test", body="您好", now=now)
    gateway.fail_next(429)  # with Retry-After: 120, past the first backoff of 30 s
    report = delivery.deliver([message.id], lambda: now)
    assert report.retrying == 1
    assert message.next_attempt_at == now + timedelta(seconds=120)
    assert delivery.deliver_due(lambda: now + timedelta(seconds=60)).sent == 0
    assert delivery.deliver_due(lambda: now + timedelta(seconds=120)).sent == 1


def test_telegrams_flood_limit_is_honoured(db, app, now):
    from app.channels.telegram import BotApi
    from tests.fakes.telegram_api import FakeTelegramApi

    with FakeTelegramApi() as api:
        api.failures.append(429)  # parameters.retry_after: 3 (under the 30-s backoff)
        with pytest.raises(SendFailed) as refused:
            BotApi(api.token, api.url).call("sendMessage", {"chat_id": 1, "text": "hi"})
    assert refused.value.retry_after == 3 and not refused.value.permanent


def test_a_batch_goes_out_in_parallel_over_kept_open_connections(db, app, now, monkeypatch):
    from tests.fakes.sms_gateway import FakeSmsGateway

    monkeypatch.setitem(app.config, "OUTBOX_THREADS", 8)
    with FakeSmsGateway(latency=0.02) as fake:
        monkeypatch.setitem(app.config, "SMS_GATEWAY_URL", fake.url)
        monkeypatch.setitem(app.config, "SMS_ACCOUNT_SID", fake.account_sid)
        monkeypatch.setitem(app.config, "SMS_AUTH_TOKEN", fake.auth_token)
        monkeypatch.setitem(app.config, "SMS_FROM", "+8610690000")
        app.extensions.pop("linli_sms_sender", None)
        try:
            for i in range(200):
                outbox.queue(
                    phone=f"+86138001390{i:02d}"[:14], kind="test", body=f"第{i}条", now=now
                )
            report = delivery.deliver_due(lambda: now, limit=200)
        finally:
            app.extensions.pop("linli_sms_sender", None)
    assert (report.claimed, report.sent) == (200, 200)
    bodies = sorted(m["Body"] for m in fake.messages)
    assert bodies == sorted(f"第{i}条" for i in range(200))  # each once
    # At most one connection per sending thread, each reused for many messages.
    assert fake.connections <= 8


def test_failed_messages_are_listed_and_queued_again(app, db, now, gateway):
    from app.core.database import commit_unit_of_work

    runner = app.test_cli_runner()
    message = outbox.queue(phone="+8613800138082", kind="test", body="活动改期", now=now)
    code = signin.send_code("13800138083", now=now, locale="zh")
    gateway.fail_next(400, 400)  # the gateway refuses both for good
    delivery.deliver([message.id, code.id], lambda: now)
    assert message.status == code.status == "failed"
    commit_unit_of_work()
    listed = runner.invoke(args=["outbox", "failed"], catch_exceptions=False)
    assert f"#{message.id}  sms  test  …8082" in listed.output and "HTTP 400" in listed.output
    retried = runner.invoke(args=["outbox", "retry", str(message.id)], catch_exceptions=False)
    assert retried.exit_code == 0, retried.output
    assert message.status == "pending" and message.attempts == 0
    # A sign-in code's text was removed when it failed: it is not sent again.
    refused = runner.invoke(args=["outbox", "retry", str(code.id)], catch_exceptions=False)
    assert refused.exit_code == 1 and "验证码已经删除" in refused.output
    assert delivery.deliver_due(lambda: now).sent == 1
    assert gateway.messages[-1]["Body"] == "活动改期"
