"""A life by text message alone (issue 20): STOP and START from any number, signing up by
text, replies in the language a message is written in, history a page at a time."""

import sqlalchemy as sa

from app.channels import outbox, sms_text
from app.core.errors import BusinessRuleError
from app.models import AuditEvent, OutboxMessage, Person, SmsOptOut
from app.people import org, signin
from app.points import awards, ledger
from tests.test_chat_sms import messages, text

STRANGER = "+8613911112222"


def reply_to(client, phone: str, body: str, **kwargs) -> str:
    (reply,) = messages(text(client, phone, body, **kwargs))  # always one message
    return reply


# --- STOP and START ---------------------------------------------------------------------


def test_stop_from_a_number_nobody_registered_is_honoured_and_acknowledged(
    client, db, app_clock, gateway_token
):
    reply = reply_to(client, STRANGER, "STOP")
    assert reply.startswith("Linli: you will get no more messages")  # written in English
    assert db.session.get(SmsOptOut, STRANGER) is not None
    # Nothing goes to the number now, not even a sign-in code; the web page says why.
    assert outbox.queue(kind="points_earned", body="x", now=app_clock(), phone=STRANGER) is None
    try:
        signin.send_code(STRANGER, now=app_clock(), locale="zh")
    except BusinessRuleError as exc:
        assert "退订" in str(exc) and "订阅" in str(exc)
    else:
        raise AssertionError("a code was queued for a number that texted STOP")
    assert reply_to(client, STRANGER, "退订").startswith("邻里：您将不再收到")  # again: fine
    assert reply_to(client, STRANGER, "订阅").startswith("邻里：已恢复")
    assert db.session.get(SmsOptOut, STRANGER) is None
    assert signin.send_code(STRANGER, now=app_clock(), locale="zh").recipient == STRANGER


def test_stop_from_a_resident_stops_their_notices_and_their_number(
    client, db, app_clock, gateway_token, make_volunteer
):
    person = make_volunteer(phone="+8613800138000")
    assert "不再收到" in reply_to(client, "13800138000", "全部退订")
    assert person.notifications_off
    assert db.session.get(SmsOptOut, "+8613800138000") is not None
    awards.award(
        person, 5, reason="测试", idempotency_key="k1", now=app_clock(), actor=None, source="t"
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    assert "已恢复" in reply_to(client, "+8613800138000", "订阅")
    assert not person.notifications_off
    awards.award(
        person, 5, reason="测试", idempotency_key="k2", now=app_clock(), actor=None, source="t"
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1


# --- the language a reply is written in ------------------------------------------------


def test_the_reply_follows_the_message_and_en_or_zhongwen_switch_for_good(
    client, db, app_clock, gateway_token, make_volunteer
):
    person = make_volunteer(phone="+8613800138000", points=40)
    assert person.locale == "zh"
    assert reply_to(client, person.phone, "BAL").startswith("张明: 40 points to spend")
    assert "可用积分 40" in reply_to(client, person.phone, "积分")
    # Full-width letters come from a Chinese keyboard; digits say nothing: the setting holds.
    assert "可用积分 40" in reply_to(client, person.phone, "ＢＡＬ")
    assert "邻里指令" in reply_to(client, person.phone, "?")
    assert person.locale == "zh"  # answering in English changed nothing for good
    assert "in English from now on" in reply_to(client, person.phone, "EN")
    assert person.locale == "en"
    assert reply_to(client, person.phone, "?").startswith("Linli commands")
    assert "邻里以后用中文回复您" in reply_to(client, person.phone, "中文")
    assert person.locale == "zh"


# --- signing up by text -----------------------------------------------------------------


def test_a_new_number_signs_up_in_the_community_whose_number_it_texted(
    client, db, app_clock, gateway_token, make_community
):
    make_community(name="别的社区")
    home = make_community(name="阳光社区")
    org.update_community_settings(
        home,
        timezone=None,
        monthly_budget=None,
        actor=None,
        now=app_clock(),
        contact_number="1069 0000",
    )
    reply = reply_to(client, STRANGER, "注册 王秀英", to="+8610690000")
    assert reply == "欢迎加入邻里，王秀英！您已登记在阳光社区。发送“帮助”查看指令。"
    person = db.session.scalars(sa.select(Person).filter_by(phone=STRANGER)).one()
    assert (person.name, person.community_id, person.locale) == ("王秀英", home.id, "zh")
    assert ledger.find_wallet(person) is not None
    event = db.session.scalars(
        sa.select(AuditEvent).filter_by(action="person.create", subject_id=person.id)
    ).one()
    assert event.source == "sms" and event.actor_id is None
    assert "可用积分 0" in reply_to(client, STRANGER, "积分")
    assert "已经登记过了" in reply_to(client, STRANGER, "注册 王秀英")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 1


def test_a_number_texting_no_community_number_is_asked_which_community(
    client, db, app_clock, gateway_token, make_community
):
    first, second = make_community(name="东园社区"), make_community(name="西园社区")
    ask = reply_to(client, STRANGER, "REGISTER Wang Xiuying", to="+8610699999")
    lines = ask.split("\n")
    assert lines[0] == (
        "Which community do you live in? Text 注册 Wang Xiuying and its number, "
        "e.g. 注册 Wang Xiuying 1:"
    )
    order = [c.name for c in org.communities()]
    assert lines[1:] == [f"{n}. {name}" for n, name in enumerate(order, start=1)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0
    number = order.index("西园社区") + 1
    reply = reply_to(client, STRANGER, f"REGISTER Wang Xiuying {number}", to="+8610699999")
    assert reply.startswith("Welcome to Linli, Wang Xiuying! You are registered in 西园社区.")
    person = db.session.scalars(sa.select(Person).filter_by(phone=STRANGER)).one()
    assert (person.community_id, person.locale) == (second.id, "en")
    assert first.id != second.id


def test_sign_up_by_text_refuses_what_the_web_refuses(
    client, db, app_clock, gateway_token, make_community
):
    make_community(name="阳光社区")
    assert "如：注册 张明" in reply_to(client, STRANGER, "注册")
    too_long = "王" * 51
    assert "50" in reply_to(client, STRANGER, f"注册 {too_long} 1")
    assert "50" in reply_to(client, STRANGER, f"注册 {too_long}")  # before any list
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0


# --- history, a page at a time ----------------------------------------------------------


def test_history_comes_five_entries_a_page_with_how_to_get_the_next(
    client, db, app_clock, gateway_token, make_volunteer
):
    person = make_volunteer(phone="+8613800138000")
    for n in range(12):
        app_clock.advance(minutes=1)
        awards.award(
            person,
            n + 1,
            reason=f"第{n + 1}次邻里纠纷调解和楼道清扫以及为独居老人送餐",
            idempotency_key=f"h{n}",
            now=app_clock(),
            actor=None,
            source="test",
            notify=False,
        )
    first = reply_to(client, person.phone, "记录").split("\n")
    assert len(first) == 6 and first[-1] == "更多：发送“记录 2”"
    assert [line.split()[1] for line in first[:5]] == ["+12", "+11", "+10", "+9", "+8"]
    assert all(line.endswith("…") for line in first[:5])  # the memo shortened, not the line cut
    second = reply_to(client, person.phone, "记录 2").split("\n")
    assert [line.split()[1] for line in second[:5]] == ["+7", "+6", "+5", "+4", "+3"]
    assert second[-1] == "更多：发送“记录 3”"
    third = reply_to(client, person.phone, "HIST 3").split("\n")
    assert [line.split()[1] for line in third] == ["+2", "+1"]  # the last page: no "more"
    assert "没有更多记录" in reply_to(client, person.phone, "记录 4")
    for page in (first, second, third):
        assert sms_text.parts("\n".join(page)) <= 4
