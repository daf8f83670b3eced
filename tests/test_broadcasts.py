"""Group messages (issue 20): who a broadcast reaches and by which channel, what it costs,
opt-outs at two levels, quiet hours, rate-limited delivery through the outbox, once only,
and who may send to whom."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.activities import activities
from app.channels import broadcasts, delivery, outbox, sms_text
from app.core.errors import BusinessRuleError, InvalidInput, NotPermitted
from app.models import AuditEvent, Broadcast, ChatLink, OutboxMessage
from app.people import org, people, teams
from app.points import awards
from tests.conftest import csrf_from
from tests.test_chat_sms import messages, text

BODY = "本周六上午9点在3号楼前集中清理楼道杂物，请大家把不要的东西提前放到门口。"


@pytest.fixture
def street(db, now, make_community, make_volunteer, make_user):
    """Two buildings of one grid in 阳光社区; residents reachable every way there is."""
    community = make_community(name="阳光社区")
    three = org.place(community, "第1网格", "3号楼", "1单元")
    four = org.place(community, "第1网格", "4号楼", "1单元")
    phone = iter(f"+86138000000{n:02d}" for n in range(1, 99))

    def resident(name, place, **flags):
        person = make_volunteer(community=community, name=name, phone=next(phone))
        person.org_unit_id = place.id
        for flag, value in flags.items():
            setattr(person, flag, value)
        return person

    people_ = dict(
        sms=resident("王秀英", three),
        english=resident("Li Ming", three, locale="en"),
        telegram=resident("张明", three),
        quiet=resident("赵芳", three, broadcasts_off=True),
        all_off=resident("钱进", three, notifications_off=True),
        stopped=resident("孙丽", three),
        stopped_telegram=resident("周强", three),
        gone=resident("吴刚", three, is_active_account=False),
        next_door=resident("郑华", four),
    )
    for who, chat in (("telegram", "9001"), ("stopped_telegram", "9002")):
        db.session.add(
            ChatLink(
                channel="telegram",
                external_id=chat,
                chat_id=chat,
                person_id=people_[who].id,
                created_at=now,
                linked_at=now,
            )
        )
    for who in ("stopped", "stopped_telegram"):
        outbox.stop_texts(people_[who].phone, now)
    staff = make_user(communities=[community], name="李社工")
    db.session.flush()
    building = three.parent
    return dict(community=community, building=building, unit=three, people=people_, staff=staff)


def test_the_preview_counts_who_it_reaches_by_channel_and_what_the_texts_cost(db, street):
    to = broadcasts.target("node", street["building"].id)
    assert to.name == "阳光社区 · 第1网格 · 3号楼"
    seen = broadcasts.preview(to, BODY, ["sms", "telegram"])
    # 7 active residents of building 3 (not the one whose account is off, not next door):
    # 王秀英 and Li Ming by text, 张明 and 周强 by Telegram (周强's number texted STOP, his
    # chat is still there), 赵芳 and 钱进 opted out, 孙丽 texted STOP and has no chat.
    assert seen.audience == 7
    assert (seen.by_sms, seen.by_telegram) == (2, 2)
    assert (seen.opted_out, seen.stopped, seen.unreachable) == (2, 1, 0)
    # Each copy costs what its reader's language makes it: 王秀英's Chinese one part, Li
    # Ming's with an English footer two (the preview shows the dearer one "each").
    copy = "【阳光社区】" + BODY + "\n回复“退订”不再接收群发"
    assert sms_text.parts(copy) == 1
    assert sms_text.parts("【阳光社区】" + BODY + "\nText 退订 to stop group messages.") == 2
    assert (seen.parts_each, seen.sms_parts) == (2, 3)
    only_sms = broadcasts.preview(to, BODY, ["sms"])
    # 周强's number texted STOP, and Telegram (where he is) was not chosen.
    assert (only_sms.by_sms, only_sms.stopped, only_sms.unreachable) == (3, 1, 1)
    only_telegram = broadcasts.preview(to, BODY, ["telegram"])
    assert (only_telegram.by_telegram, only_telegram.stopped, only_telegram.unreachable) == (
        2,
        1,
        2,
    )
    with pytest.raises(InvalidInput, match="渠道"):
        broadcasts.preview(to, BODY, [])
    with pytest.raises(InvalidInput):
        broadcasts.preview(to, "  \n ", ["sms"])
    with pytest.raises(InvalidInput):
        broadcasts.preview(to, "字" * 301, ["sms"])


def test_sending_queues_one_copy_each_in_their_language_spread_out_and_once(
    app, db, now, street, make_user
):
    to = broadcasts.target("node", street["building"].id)
    app.config["BROADCAST_PER_SECOND"] = 2
    sent = broadcasts.send(
        to,
        BODY,
        ["sms", "telegram"],
        sender=street["staff"],
        community_ids={street["community"].id},
        key="k1",
        now=now,
    )
    copies = db.session.scalars(
        sa.select(OutboxMessage).filter_by(broadcast_id=sent.id).order_by(OutboxMessage.id)
    ).all()
    who = {m.person_id: m for m in copies}
    p = street["people"]
    assert set(who) == {p[k].id for k in ("sms", "english", "telegram", "stopped_telegram")}
    assert who[p["telegram"].id].channel == "telegram"
    assert who[p["stopped_telegram"].id].recipient == "9002"
    assert who[p["sms"].id].body == "【阳光社区】" + BODY + "\n回复“退订”不再接收群发"
    assert who[p["english"].id].body.endswith("\nText 退订 to stop group messages.")
    # Two a second: the fourth copy is due 1.5 s after the first.
    assert [m.next_attempt_at - now for m in copies] == [
        timedelta(seconds=s) for s in (0, 0.5, 1, 1.5)
    ]
    assert (sent.audience, sent.by_sms, sent.by_telegram, sent.skipped) == (7, 2, 2, 3)
    again = broadcasts.send(
        to, BODY, ["sms", "telegram"], sender=street["staff"], community_ids=None, key="k1",
        now=now,
    )  # fmt: skip
    assert again.id == sent.id
    colleague = make_user(communities=[street["community"]], phone="13900000902")
    with pytest.raises(InvalidInput):  # another sender's key is not a way to see theirs
        broadcasts.send(to, BODY, ["sms"], sender=colleague, community_ids=None, key="k1", now=now)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 4
    event = db.session.scalars(sa.select(AuditEvent).filter_by(action="broadcast.send")).one()
    assert event.actor_id == street["staff"].id and event.after["sms_parts"] == 3


def test_a_broadcast_written_at_night_waits_for_the_morning(db, now, street):
    night = now.replace(hour=15, minute=30)  # 23:30 in Shanghai
    sent = broadcasts.send(
        broadcasts.target("node", street["unit"].id), "明早停水", ["sms"],
        sender=street["staff"], community_ids=None, key="night", now=night,
    )  # fmt: skip
    first = db.session.scalars(
        sa.select(OutboxMessage).filter_by(broadcast_id=sent.id).order_by(OutboxMessage.id)
    ).first()
    assert first.next_attempt_at == night.replace(hour=23, minute=0)  # 07:00 next day


def test_who_may_write_to_whom(db, now, street, make_community, make_user):
    to_building = broadcasts.target("node", street["building"].id)
    elsewhere = make_user(communities=[make_community()], phone="13900000901")
    with pytest.raises(NotPermitted):
        broadcasts.send(
            to_building, BODY, ["sms"], sender=elsewhere, community_ids={0}, key="x", now=now
        )
    # A 三长 writes to the building they lead and what lies in it, nothing beside it.
    leader = street["people"]["sms"]
    people.make_leader(leader, street["building"], "building_leader")
    db.session.flush()
    assert broadcasts.may_send(leader, to_building, set())
    assert broadcasts.may_send(leader, broadcasts.target("node", street["unit"].id), set())
    grid = broadcasts.target("node", street["building"].parent_id)
    assert not broadcasts.may_send(leader, grid, set())
    four = org.place(street["community"], "第1网格", "4号楼")
    assert not broadcasts.may_send(leader, broadcasts.target("node", four.id), set())
    # A resident who leads nothing writes to nobody.
    assert not broadcasts.may_send(street["people"]["english"], to_building, set())


def test_a_sender_has_a_daily_limit(app, db, now, street):
    app.config["BROADCASTS_PER_DAY"] = 2
    to = broadcasts.target("node", street["unit"].id)
    for n in range(2):
        broadcasts.send(
            to, f"通知{n}", ["sms"], sender=street["staff"], community_ids=None, key=f"d{n}",
            now=now + timedelta(minutes=n),
        )  # fmt: skip
    with pytest.raises(BusinessRuleError, match="24"):
        broadcasts.send(
            to, "第三条", ["sms"], sender=street["staff"], community_ids=None, key="d2",
            now=now + timedelta(hours=2),
        )  # fmt: skip
    broadcasts.send(
        to, "第二天", ["sms"], sender=street["staff"], community_ids=None, key="d3",
        now=now + timedelta(days=1, minutes=1),
    )  # fmt: skip


def test_a_team_and_an_activitys_volunteers(db, now, street, make_activity):
    p = street["people"]
    team = teams.create_team(
        street["community"], name="小巷骑兵", duties="", actor=street["staff"], now=now
    )
    teams.add_member(team, p["sms"], actor=street["staff"], now=now)
    teams.add_member(team, p["next_door"], actor=street["staff"], now=now)
    seen = broadcasts.preview(broadcasts.target("team", team.id), "集合", ["sms"])
    assert (seen.audience, seen.by_sms) == (2, 2)
    activity = make_activity(community=street["community"], starts_in=timedelta(days=2))
    activities.sign_up(activity, p["english"], now=now)
    activities.sign_up(activity, p["quiet"], now=now)
    seen = broadcasts.preview(broadcasts.target("activity", activity.id), "改期", ["sms"])
    assert (seen.audience, seen.by_sms, seen.opted_out) == (2, 1, 1)


def test_by_the_panel_end_to_end_through_a_fake_gateway_and_a_tdreply(
    app, client, db, now, app_clock, street, gateway, login, make_community
):
    login(street["staff"])
    unit = street["unit"]
    page = client.get(f"/panel/broadcasts/new?kind=node&id={unit.id}")
    assert page.status_code == 200 and "阳光社区 · 第1网格 · 3号楼 · 1单元" in page.text
    form = {"csrf_token": csrf_from(page.text), "body": BODY, "sms": "y", "telegram": "y"}
    preview = client.post(
        f"/panel/broadcasts/new?kind=node&id={unit.id}", data={**form, "action": "preview"}
    )
    assert "发送给 4 人" in preview.text
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', preview.text).group(1)
    done = client.post(
        f"/panel/broadcasts/new?kind=node&id={unit.id}",
        data={**form, "action": "send", "key": key},
    )
    assert done.status_code == 302
    again = client.post(  # the confirmed form sent twice: once
        f"/panel/broadcasts/new?kind=node&id={unit.id}",
        data={**form, "action": "send", "key": key},
    )
    assert again.headers["Location"] == done.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Broadcast)) == 1
    detail = client.get(done.headers["Location"])
    assert "等待发送" in detail.text
    # Delivered through the gateway, two a second… the clock moves, the outbox sends.
    app_clock.advance(minutes=1)
    delivery.deliver_due(app_clock)
    sms = sorted(m["To"] for m in gateway.messages)
    p = street["people"]
    assert sms == sorted([p["sms"].phone, p["english"].phone])
    # 退订 in answer: no more group messages, but personal notices still come.
    (reply,) = messages(text(client, p["sms"].phone, "退订", token=gateway.auth_token))
    assert "已退订群发通知" in reply and p["sms"].broadcasts_off
    assert not p["sms"].notifications_off
    awards.award(
        p["sms"], 5, reason="测试", idempotency_key="after", now=app_clock(), actor=None,
        source="t",
    )  # fmt: skip
    assert db.session.scalars(
        sa.select(OutboxMessage).filter_by(person_id=p["sms"].id, kind="points_earned")
    ).one()
    seen = broadcasts.preview(broadcasts.target("node", unit.id), "再通知", ["sms", "telegram"])
    assert seen.opted_out == 3  # 赵芳, 钱进 and now 王秀英
    # Another community's group is not there for this worker.
    other = make_community(name="别的社区")
    assert client.get(f"/panel/broadcasts/new?kind=node&id={other.id}").status_code == 404
    assert client.get("/panel/broadcasts/new?kind=node&id=abc").status_code == 404


def test_a_building_leader_writes_to_their_building_from_the_phone(
    client, db, now, app_clock, street
):
    from tests.test_volunteer_flow import sign_in_by_code

    leader = street["people"]["sms"]
    people.make_leader(leader, street["building"], "building_leader")
    db.session.flush()
    sign_in_by_code(client, db, leader.phone)
    home = client.get("/")
    assert "给我负责的居民发通知" in home.text
    assert (
        client.get("/leader/message")
        .headers["Location"]
        .endswith(f"/leader/message/{street['building'].id}")
    )
    url = f"/leader/message/{street['building'].id}"
    page = client.get(url)
    form = {"csrf_token": csrf_from(page.text), "body": "今晚8点停电检修", "sms": "y"}
    preview = client.post(url, data={**form, "action": "preview"})
    assert "发送给 3 人" in preview.text  # by text only: 王秀英 herself, Li Ming, 张明
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', preview.text).group(1)
    assert client.post(url, data={**form, "action": "send", "key": key}).status_code == 302
    sent = db.session.scalars(sa.select(Broadcast)).one()
    assert (sent.sender_id, sent.by_sms, sent.target_kind) == (leader.id, 3, "node")
    event = db.session.scalars(sa.select(AuditEvent).filter_by(action="broadcast.send")).one()
    assert event.source == "web"
    # Not the grid above, nor the building beside, nor the staff panel.
    assert client.get(f"/leader/message/{street['building'].parent_id}").status_code == 404
    four = org.place(street["community"], "第1网格", "4号楼")
    assert client.get(f"/leader/message/{four.id}").status_code == 404
    assert client.get("/panel/broadcasts").status_code == 403


def test_a_resident_chooses_what_messages_they_get_in_settings(client, db, now, street):
    from tests.test_volunteer_flow import sign_in_by_code

    person = street["people"]["english"]
    sign_in_by_code(client, db, person.phone)
    page = client.get("/settings")
    client.post(
        "/settings",
        data={"csrf_token": csrf_from(page.text), "locale": "en", "broadcasts_off": "1"},
    )
    assert person.broadcasts_off and not person.notifications_off
    assert client.get("/").status_code == 200
    assert "Message the residents I lead" not in client.get("/").text
