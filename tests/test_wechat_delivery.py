"""Notices over WeChat (issue 20): customer-service messages through the outbox, against a
fake WeChat API on 127.0.0.1; the access token fetched once and shared, fetched again when
WeChat ends it; a follower WeChat will not reach gets a text message instead."""

import pytest
import sqlalchemy as sa

from app.channels import delivery, outbox
from app.models import ChatLink, OutboxMessage
from app.points import awards


@pytest.fixture
def wechat_api(app):
    from tests.fakes.wechat_api import FakeWeChatApi

    with FakeWeChatApi() as fake:
        app.config.update(
            WECHAT_APP_ID=fake.app_id, WECHAT_APP_SECRET=fake.secret, WECHAT_API_URL=fake.url
        )
        app.extensions.pop("linli_wechat_sender", None)
        yield fake
        app.config.update(WECHAT_APP_ID=None, WECHAT_APP_SECRET=None)
        app.extensions.pop("linli_wechat_sender", None)


@pytest.fixture
def follower(db, now, make_volunteer):
    person = make_volunteer(name="王秀英", phone="+8613800138000")
    db.session.add(
        ChatLink(
            channel="wechat",
            external_id="oLinli_elder_0001",
            chat_id="oLinli_elder_0001",
            person_id=person.id,
            created_at=now,
            linked_at=now,
        )
    )
    db.session.flush()
    return person


def _award(person, now, key):
    awards.award(person, 5, reason="楼道清扫", idempotency_key=key, now=now, actor=None, source="t")


def test_a_notice_goes_by_wechat_with_one_token_for_many_messages(db, now, wechat_api, follower):
    _award(follower, now, "a1")
    _award(follower, now, "a2")
    messages = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.channel, m.recipient) for m in messages] == [("wechat", "oLinli_elder_0001")] * 2
    report = delivery.deliver_due(lambda: now)
    assert report.sent == 2
    assert [m["touser"] for m in wechat_api.messages] == ["oLinli_elder_0001"] * 2
    assert wechat_api.messages[0]["msgtype"] == "text"
    assert "楼道清扫" in wechat_api.messages[0]["text"]["content"]
    assert wechat_api.fetches == 1  # one token, kept for the next message


def test_a_token_wechat_ended_is_fetched_again_and_the_message_sent_once(
    db, now, wechat_api, follower
):
    _award(follower, now, "b1")
    delivery.deliver_due(lambda: now)
    wechat_api.expire_token()
    _award(follower, now, "b2")
    report = delivery.deliver_due(lambda: now)
    assert report.sent == 1 and wechat_api.fetches == 2
    assert len(wechat_api.messages) == 2


def test_a_follower_wechat_will_not_reach_gets_a_text_message_instead(
    db, now, wechat_api, gateway, follower
):
    wechat_api.silent_followers.add("oLinli_elder_0001")
    _award(follower, now, "c1")
    report = delivery.deliver_due(lambda: now)
    assert report.failed == 1
    failed, copy = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert failed.status == "failed" and "45015" in failed.last_error
    assert (copy.channel, copy.recipient, copy.body) == ("sms", follower.phone, failed.body)
    assert delivery.deliver_due(lambda: now).sent == 1
    assert gateway.messages[0]["To"] == follower.phone
    # …unless the number texted STOP: then nothing more goes.
    outbox.stop_texts(follower.phone, now)
    follower.notifications_off = False
    _award(follower, now, "c2")
    delivery.deliver_due(lambda: now)
    assert len(gateway.messages) == 1


def test_a_wrong_app_secret_fails_for_good_and_falls_back(app, db, now, wechat_api, follower):
    app.config["WECHAT_APP_SECRET"] = "not-the-secret"
    app.extensions.pop("linli_wechat_sender", None)
    _award(follower, now, "d1")
    report = delivery.deliver_due(lambda: now)
    assert report.failed == 1
    failed = db.session.scalars(sa.select(OutboxMessage).filter_by(channel="wechat")).one()
    assert "40125" in failed.last_error
    assert db.session.scalars(sa.select(OutboxMessage).filter_by(channel="sms")).one()


def test_a_group_message_that_wechat_will_not_deliver_is_not_sent_again_by_sms(
    db, now, wechat_api, gateway, follower, make_user
):
    from app.channels import broadcasts

    staff = make_user(communities=[follower.community])
    wechat_api.silent_followers.add("oLinli_elder_0001")
    to = broadcasts.target("node", follower.community_id)
    sent = broadcasts.send(
        to, "停水通知", ["wechat"], sender=staff, community_ids=None, key="w1", now=now
    )
    assert sent.by_wechat == 1 and sent.by_sms == 0  # what the preview said it would cost
    assert delivery.deliver_due(lambda: now).failed == 1
    # The sender chose WeChat and saw no SMS cost: no text message is added behind them.
    assert db.session.scalars(sa.select(OutboxMessage).filter_by(channel="sms")).all() == []


def test_no_password_link_is_made_for_a_number_that_texted_stop(db, now, make_user):
    from app.core.errors import BusinessRuleError
    from app.people import accounts

    staff = make_user(phone="13900000951")
    outbox.stop_texts(staff.phone, now)
    with pytest.raises(BusinessRuleError, match="订阅"):
        accounts.send_password_link(staff, actor=None, now=now, link_url=lambda t: f"/p/{t}")
