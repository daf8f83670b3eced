"""Every command's longest reply, in Chinese and English, by SMS, Telegram and WeChat,
against one golden file (tests/samples/sms_replies/), and within the parts a text message
may cost, whole (issue 20).

The world is made for the longest replies: names of 50 characters, titles of 100, memos of
200, a full history page, a full board, five activities, six shops. A reply that changes
shows up as a diff of its golden file; rewrite them with LINLI_GOLDEN=update after reading
the diff.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from app.activities import scan_codes
from app.channels import sms_text
from app.models import ChatLink
from app.people import org
from app.points import awards, needs
from tests.test_chat_sms import messages, text

GOLDEN = Path(__file__).parent / "samples" / "sms_replies"
PHONE, STRANGER = "+8613800138000", "+8613911112222"
LONG_NAME = {"zh": "欧阳" + "秀" * 48, "en": ("Wang Xiuying " * 4)[:50]}
LONG_TITLE = "为辖区独居老人和困难家庭上门送餐、打扫卫生、陪同就医并登记健康情况的长期志愿服务" * 3


def _masked(command: str, reply: str) -> str:
    """The parts of a reply that differ from run to run: ids from the database's sequences
    (which PostgreSQL does not roll back) and a fresh redemption code."""
    if command == "events":
        reply = re.sub(r"^\d+\.", "#.", reply, flags=re.M)
    if command == "code":
        reply = re.sub(r"\d{8}", "########", reply)
    if command in NEED_COMMANDS:  # a request's number
        reply = re.sub(r"#\d+", "#N", reply)
        reply = re.sub(r"(接单|完成|放弃|撤销|TAKE|DONE|RELEASE|CANCEL) \d+", r"\1 N", reply)
    return reply


# (name, zh text, en text): every command, the longest way.
COMMANDS = [
    ("help", "帮助", "HELP"),
    ("balance", "积分", "BAL"),
    ("history", "记录", "HIST"),
    ("history-last", "记录 3", "HIST 3"),
    ("top", "排行", "TOP"),
    ("events", "活动", "EVENTS"),
    ("join", "报名 {activity}", "JOIN {activity}"),
    ("checkin", "签到 {in}", "CHECKIN {in}"),
    ("checkout", "签退 {out}", "CHECKOUT {out}"),
    ("code", "兑换码", "CODE"),
    ("shops", "商家", "SHOPS"),
    ("object", "异议 少记了一小时", "OBJECT one hour short"),
    ("link", "绑定", "LINK"),
    ("register-again", "注册 {name}", "REGISTER {name}"),
    ("unknown", "你好", "hello there"),
    ("quiet", "退订", "TD"),
    ("stop", "全部退订", "STOP"),
    ("start", "订阅", "START"),
    # Requests (需求): ask, list the open ones, take one, finish it, the answers with nothing
    # waiting, and withdraw one's own.
    ("need", "求助 " + LONG_TITLE[:200], "HELP " + ("the kitchen tap leaks all night " * 7)[:200]),
    ("needs", "需求", "NEEDS"),
    ("take", "接单 {need}", "TAKE {need}"),
    ("done", "完成 {need} " + LONG_TITLE[:150], "DONE {need} " + ("changed the valve " * 8)),
    ("answer-none", "1", "1"),
    ("rate-none", "评分 5", "RATE 5"),
    ("withdraw", "撤销 {mine}", "CANCEL {mine}"),
]
NEED_COMMANDS = {"need", "needs", "take", "done", "withdraw"}
STRANGER_COMMANDS = [
    ("stranger", "积分", "BAL"),
    ("stranger-register", "注册 {name}", "REGISTER {name}"),
]


@pytest.fixture
def world(db, app_clock, make_community, make_volunteer, make_activity, make_merchant):
    community = make_community(name="阳光社区")
    for n in range(2, 8):  # a street of seven: the list a stranger is asked to choose from
        make_community(name=f"幸福里第{n}社区居民委员会")
    people = {}
    for locale in ("zh", "en"):
        person = make_volunteer(community=community, name=LONG_NAME[locale], points=5000)
        person.locale = locale
        people[locale] = person
    people["zh"].phone = PHONE
    for n in range(14):  # with the first award, three full pages of history
        app_clock.advance(minutes=1)
        for person in people.values():
            awards.award(
                person,
                100 + n,
                reason=LONG_TITLE[:200],
                idempotency_key=f"g{n}-{person.id}",
                now=app_clock(),
                actor=None,
                source="test",
                notify=False,
            )
    for n in range(10):  # a full board of long names
        make_volunteer(community=community, name=LONG_NAME["zh"][: 50 - n], points=9000 + n)
    for n in range(6):
        make_activity(
            community=community,
            starts_in=timedelta(days=n + 1),
            title=LONG_TITLE[:100],
            place="幸福里社区党群服务中心三楼多功能活动室",
        )
        make_merchant(
            communities=[community],
            name="幸福里红色合伙人爱心便民理发店第" + str(n) + "分店",
            title="老年人免费理发、修面、洗头和上门理发服务一次",
            points_cost=120,
        )
    now_open = make_activity(community=community, title=LONG_TITLE[:100], points=30, hours=3)
    kind = needs.create_kind(
        None,
        needs.KindFields(name="居家照护与生活帮扶（独居老人优先）", points=20, step_hours=24),
        actor=people["zh"],
        now=app_clock(),
    )
    asked = []
    for n in range(6):  # more open requests than a reply lists
        resident = make_volunteer(community=community, name=LONG_NAME["zh"][: 40 + n])
        asked.append(
            needs.post(resident, LONG_TITLE[:300], kind=kind, now=app_clock(), source="test")
        )
    return dict(community=community, people=people, activity=now_open, asked=asked)


TELEGRAM_USER, OPENID = 5288413701, "oLinli_elder_0001"


def _send(client, app_clock, channel: str, phone: str, body: str) -> str:
    """The reply text, as the channel's adapter gives it."""
    if channel == "telegram":
        from tests.test_chat_telegram import say

        return say(client, body, user=TELEGRAM_USER)["text"]
    if channel == "wechat":
        from tests.test_chat_wechat import message, post, reply_of

        answer = post(client, app_clock, message(content=body), safe=True)
        return reply_of(answer, safe=True).replace("&amp;", "&")
    (reply,) = messages(text(client, phone, body))
    return reply


@pytest.mark.parametrize("channel", ["sms", "telegram", "wechat"])
@pytest.mark.parametrize("locale", ["zh", "en"])
def test_every_commands_longest_reply_matches_its_golden_file_and_fits(
    app, client, db, app_clock, gateway_token, world, locale, channel
):
    """On every channel the same command language gives the same reply (only SMS has
    strangers sign up by text: a chat links to a resident with 绑定 first)."""
    from tests.test_chat_wechat import AES_KEY, APP_ID, TOKEN

    app.config.update(
        TELEGRAM_WEBHOOK_SECRET="tg-webhook-secret-123",
        WECHAT_TOKEN=TOKEN,
        WECHAT_AES_KEY=AES_KEY,
        WECHAT_APP_ID=APP_ID,
    )
    person = world["people"][locale]
    person.phone = PHONE if locale == "zh" else "+8613800138001"
    if channel != "sms":
        chat = str(TELEGRAM_USER) if channel == "telegram" else OPENID
        db.session.add(
            ChatLink(
                channel=channel,
                external_id=chat,
                chat_id=chat,
                person_id=person.id,
                created_at=app_clock(),
                linked_at=app_clock(),
            )
        )
        db.session.flush()
    activity = world["activity"]
    app_clock.advance(minutes=30)
    codes = {
        "in": scan_codes.short_code(activity, "in", app_clock()),
        "activity": str(activity.id),
        "name": person.name,
        "need": str(world["asked"][0 if locale == "zh" else 1].id),
    }
    org.communities()  # the list's order is the ids'
    replies = {}
    for name, zh, en in COMMANDS + (STRANGER_COMMANDS if channel == "sms" else []):
        if name == "checkout":
            app_clock.advance(hours=2)
            codes["out"] = scan_codes.short_code(activity, "out", app_clock())
        if name == "withdraw":  # the request the person asked for above
            codes["mine"] = str(needs.mine(person, limit=1)[0].id)
        sender = STRANGER if name.startswith("stranger") else person.phone
        body = (zh if locale == "zh" else en).format(**codes)
        replies[name] = _masked(name, _send(client, app_clock, channel, sender, body))
    for name, reply in replies.items():
        assert sms_text.parts(reply) <= sms_text.MAX_PARTS, (name, reply)
        assert sms_text.fit(reply, more="…") == reply, f"{name} was cut: {reply!r}"
        golden = GOLDEN / f"{name}.{locale}.txt"
        if os.environ.get("LINLI_GOLDEN") == "update" and channel == "sms":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(reply + "\n", encoding="utf-8")
        assert golden.exists(), f"no golden file {golden.name}: run with LINLI_GOLDEN=update"
        assert reply == golden.read_text(encoding="utf-8").removesuffix("\n"), name
