"""A neighbour's request at phone size (issue 21): the elder asks for help on the phone with
a photo, a volunteer of the grid finds it, takes it and marks it done, the elder confirms
and rates it; the volunteer's card and the grid's public board show the rating; the
worker sees the whole story in the panel."""

import io
import re

import pytest

from tests.browser.conftest import (
    no_horizontal_scroll,
    screenshot,
    sign_in_by_code,
    sign_in_by_password,
)
from tests.conftest import Clock

pytestmark = [pytest.mark.browser, pytest.mark.once, pytest.mark.committing]


@pytest.fixture
def grid(committed_app, now):
    from app.core.database import commit_unit_of_work
    from app.people import org, people
    from app.points import needs

    committed_app.config["LINLI_CLOCK"] = Clock(now)
    with committed_app.app_context():
        community = org.create_community("阳光社区", monthly_budget=5000)
        elder_home = org.place(community, "第一网格", "3号楼", "2单元", "502")
        helper_home = org.place(community, "第一网格", "5号楼", "1单元", "101")
        for name, phone, home in (
            ("王秀英", "13800138000", elder_home),
            ("李小哥", "13800138001", helper_home),
        ):
            people.create_person(
                name=name, phone=phone, community=community, org_unit=home, now=now,
                actor=None, source="test",
            )  # fmt: skip
        staff = people.create_user(
            kind="staff", name="李社工", phone="13900000010", password="correct horse",
            login="lishegong", communities=[community], now=now, actor=None, source="test",
        )  # fmt: skip
        needs.create_kind(
            None,
            needs.KindFields(name="维修", points=20, step_hours=4, keywords="水管 漏水"),
            actor=staff,
            now=now,
        )
        commit_unit_of_work()
    yield
    committed_app.config.pop("LINLI_CLOCK", None)


def sign_in(page, base: str, phone: str) -> None:
    sign_in_by_code(page, base, phone)
    page.wait_for_url(base + "/")


def check_page(page, name: str) -> None:
    assert no_horizontal_scroll(page), name
    assert page.errors == [], page.errors
    screenshot(page, name)


def _photo() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def test_a_request_is_asked_taken_done_confirmed_and_rated_on_phones(
    committed_app, live_server, grid, browser
):
    from tests.browser.conftest import PHONE

    def phone_page():
        context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    elder = phone_page()
    sign_in(elder, live_server, "13800138000")
    elder.get_by_role("link", name="求助，或帮邻居一把").click()
    elder.get_by_role("link", name="我要求助").click()
    elder.get_by_label("需要什么帮助？").fill("厨房水管漏水，地上都是水")
    elder.get_by_label("最多 3 张照片（可不传）").set_input_files(
        [{"name": "leak.jpg", "mimeType": "image/jpeg", "buffer": _photo()}]
    )
    check_page(elder, "need-ask")
    elder.get_by_role("button", name="我要求助").click()
    assert "先由单元长" in elder.locator(".flash").inner_text() or "社区工作人员" in (
        elder.locator(".flash").inner_text()
    )
    need_url = elder.url
    assert elder.locator("img.evidence-photo").count() == 1
    check_page(elder, "need-asked")

    helper = phone_page()
    sign_in(helper, live_server, "13800138001")
    helper.goto(live_server + "/needs")
    item = helper.locator("li", has_text="厨房水管漏水")
    assert "维修" in item.inner_text()
    check_page(helper, "need-list-volunteer")
    item.get_by_role("link").click()
    # A neighbour sees the building, not the room.
    facts = helper.locator(".facts").inner_text()
    assert "3号楼" in facts and "502" not in facts
    helper.get_by_role("button", name="我来办").click()
    assert "由您办理" in helper.locator(".flash").inner_text()
    assert "502" in helper.locator(".facts").inner_text()  # the taker may find the door
    helper.get_by_label("做了什么？（可不填）").fill("换了阀门")
    helper.get_by_role("button", name="已经办好了").click()
    check_page(helper, "need-done")

    elder.goto(need_url)
    assert "已办好，等居民确认" in elder.locator(".tag").inner_text()
    elder.get_by_role("button", name="办好了").click()
    elder.get_by_label("星级").select_option("5")
    elder.get_by_label("说句感谢或建议（可不填）").fill("很及时")
    elder.get_by_role("button", name="评价这次帮助").click()
    assert "已转告志愿者" in elder.locator(".flash").inner_text()
    assert "★★★★★" in elder.locator(".facts").inner_text()
    check_page(elder, "need-confirmed")

    helper.goto(live_server + "/card")
    assert "解决了 1 个求助" in helper.locator(".volunteer-card-facts").inner_text()
    helper.goto(live_server + "/history")
    assert "+20" in helper.locator(".ledger-lines li").first.inner_text()

    board = phone_page()
    with committed_app.app_context():
        from app.people import org

        community_id = org.find_community("阳光社区").id
    board.goto(f"{live_server}/needs/board/{community_id}")
    text = board.locator("main").inner_text()
    assert "第一网格" in text and "★ 5.0" in text and "李*哥" in text
    assert "厨房" not in text and "502" not in text and "王秀英" not in text
    check_page(board, "need-board")

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    staff = desk.new_page()
    sign_in_by_password(staff, live_server, "lishegong")
    staff.goto(live_server + "/panel/needs?status=confirmed")
    staff.get_by_role("link", name="厨房水管漏水，地上都是水").click()
    story = staff.locator("main").inner_text()
    for step in ("提出求助", "已接单", "标为已办好", "已确认", "积分已发放", "已评价"):
        assert step in story
    screenshot(staff, "panel-need")
    desk.close()
    with committed_app.app_context():
        from app.points import ledger

        assert ledger.check() == []


def test_a_deduction_made_at_the_desk_shows_on_the_phone_and_is_objected_to(
    committed_app, live_server, grid, browser, now
):
    """扣分: the worker deducts at a desk with a reason; the resident sees it in their
    history and in the published statement on the phone, and objects there."""
    from app.core.database import commit_unit_of_work
    from app.people import people
    from app.points import awards, deeds
    from tests.browser.conftest import PHONE

    with committed_app.app_context():
        person = people.get_by_phone("13800138001")
        awards.award(
            person, 50, reason="上月服务", idempotency_key="seed-50", now=now, actor=None,
            source="test", notify=False,
        )  # fmt: skip
        deeds.create_rule(
            deeds.RuleFields(title="高空抛物", category="safety", points=20, deducts=True),
            community=None,
            actor=people.get_by_phone("13900000010"),
            now=now,
        )
        person_id = person.id
        commit_unit_of_work()
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    staff = desk.new_page()
    sign_in_by_password(staff, live_server, "lishegong")
    staff.goto(f"{live_server}/panel/residents/{person_id}")
    staff.get_by_role("link", name="扣分").click()
    staff.get_by_label("发生了什么（居民会看到）").fill("从5楼扔下花盆")
    staff.get_by_role("button", name="扣分").click()
    assert "已扣除 李小哥 20 积分" in staff.locator(".flash").inner_text()
    staff.goto(live_server + "/panel/statements")
    staff.get_by_label("月份").fill(now.strftime("%Y-%m"))
    staff.get_by_role("button", name="生成待审").click()
    assert "扣分" in staff.locator("table.data thead").inner_text()
    staff.get_by_role("button", name="公示（公示后不可修改）").click()
    screenshot(staff, "panel-statement-deduction")

    context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
    phone = context.new_page()
    phone.errors = []
    phone.on("pageerror", lambda exc: phone.errors.append(str(exc)))
    sign_in(phone, live_server, "13800138001")
    phone.goto(live_server + "/history")
    line = phone.locator(".ledger-lines li").first
    assert "高空抛物：从5楼扔下花盆" in line.inner_text() and "-20" in line.inner_text()
    check_page(phone, "deduction-history")
    phone.goto(live_server + "/")
    phone.get_by_role("link", name=re.compile("正在公示")).click()
    assert "其中扣分 -20 分" in phone.locator("main").inner_text()
    phone.get_by_label("有误？请告诉工作人员（异议）").fill("花盆不是我扔的")
    phone.get_by_role("button", name="提交异议").click()
    assert "异议已提交" in phone.locator(".flash").inner_text()
    check_page(phone, "deduction-objected")
    desk.close()


def _text(base: str, phone: str, body: str, token: str) -> str:
    """A text message to the live server as Twilio sends it (signed); the reply's words."""
    import html
    import urllib.parse
    import urllib.request
    import uuid

    from app.chat.views import twilio_signature

    url = base + "/chat/sms/inbound"
    form = {
        "From": phone,
        "To": "+15005550006",
        "Body": body,
        "MessageSid": "SM" + uuid.uuid4().hex,
    }
    signature = twilio_signature(token, url, {k: [v] for k, v in form.items()})
    data, headers = urllib.parse.urlencode(form).encode(), {"X-Twilio-Signature": signature}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (ours)
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        xml = answer.read().decode()
    return html.unescape("".join(re.findall(r"<Message>(.*?)</Message>", xml, re.S)))


def test_an_elder_texts_for_help_it_climbs_a_volunteer_does_it_on_the_phone_and_1_pays_once(
    committed_app, live_server, grid, phone, now
):
    """The issue's loop: 求助 by text → the unit leader is told → overdue, it climbs to the
    building leader → a volunteer takes and finishes it on the phone → the elder's 1 pays
    the volunteer once (a second 1 changes nothing) → the rating shows on the volunteer's
    card and on the grid's board."""
    import sqlalchemy as sa

    from app.core.database import commit_unit_of_work
    from app.core.extensions import db
    from app.models import OutboxMessage
    from app.people import org, people
    from app.points import ledger, needs

    token = "browser-sms-token"
    committed_app.config["SMS_AUTH_TOKEN"] = token
    clock = committed_app.config["LINLI_CLOCK"]
    with committed_app.app_context():
        home = org.place(org.find_community("阳光社区"), "第一网格", "3号楼", "2单元", "502")
        leaders = {}
        for role, node, name, number in (
            ("unit_leader", home.parent, "赵单元长", "13800138011"),
            ("building_leader", home.parent.parent, "钱楼栋长", "13800138012"),
        ):
            leader = people.create_person(
                name=name, phone=number, community=org.find_community("阳光社区"),
                org_unit=home.parent, now=now, actor=None, source="test",
            )  # fmt: skip
            people.make_leader(leader, node, role)
            leaders[role] = leader.id
        commit_unit_of_work()
    try:
        asked = _text(live_server, "+8613800138000", "求助 厨房水管漏水", token)
        assert "单元长" in asked
        need_id = int(re.search(r"#(\d+)", asked).group(1))
        with committed_app.app_context():

            def told(person_id):
                return db.session.scalars(
                    sa.select(OutboxMessage.body).filter_by(person_id=person_id, kind="need")
                ).all()

            assert len(told(leaders["unit_leader"])) == 1 and not told(leaders["building_leader"])
            clock.advance(hours=4, minutes=1)
            assert needs.escalate_due(clock()) == 1
            commit_unit_of_work()
            assert "没有人及时" in told(leaders["building_leader"])[0]

        sign_in(phone, live_server, "13800138001")
        phone.goto(f"{live_server}/needs/{need_id}")
        phone.get_by_role("button", name="我来办").click()
        phone.get_by_role("button", name="已经办好了").click()
        check_page(phone, "need-done-by-text-elder")

        assert "评分" in _text(live_server, "+8613800138000", "1", token)
        assert "没有" in _text(live_server, "+8613800138000", "1", token)
        assert "谢谢" in _text(live_server, "+8613800138000", "评分 5 很及时", token)

        phone.goto(live_server + "/card")
        card = phone.locator(".volunteer-card-facts").inner_text()
        assert "解决了 1 个求助" in card and "★ 5.0" in card
        with committed_app.app_context():
            community_id = org.find_community("阳光社区").id
            helper = people.get_by_phone("13800138001")
            assert ledger.balance(ledger.wallet_for(helper)) == 20
            assert ledger.check() == []
        phone.goto(f"{live_server}/needs/board/{community_id}")
        assert "★ 5.0" in phone.locator("main").inner_text()
        check_page(phone, "need-board-after-text")
    finally:
        committed_app.config["SMS_AUTH_TOKEN"] = None


def test_a_good_deed_reported_with_a_photo_on_the_phone_is_approved_at_the_desk_and_paid(
    committed_app, live_server, grid, browser, phone, now
):
    from app.core.database import commit_unit_of_work
    from app.people import people
    from app.points import deeds

    with committed_app.app_context():
        rule = deeds.create_rule(
            deeds.RuleFields(title="帮助邻里", category="other", points=10),
            community=None,
            actor=people.get_by_phone("13900000010"),
            now=now,
        )
        rule_id = rule.id
        commit_unit_of_work()
    sign_in(phone, live_server, "13800138001")
    phone.goto(live_server + "/deeds/report")
    phone.get_by_label("做了什么好事？帮了谁？在哪里？").fill("帮3号楼王奶奶把米扛上五楼")
    phone.get_by_label("照片（可不传）").set_input_files(
        [{"name": "rice.jpg", "mimeType": "image/jpeg", "buffer": _photo()}]
    )
    check_page(phone, "deed-report")
    phone.get_by_role("button", name="提交给社区工作人员").click()
    phone.wait_for_url(live_server + "/")

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    staff = desk.new_page()
    sign_in_by_password(staff, live_server, "lishegong")
    staff.goto(live_server + "/panel/approvals#reports")
    item = staff.locator("#reports li", has_text="帮3号楼王奶奶把米扛上五楼")
    assert item.locator("img.evidence-photo").count() == 1
    item.locator("select[name=rule]").select_option(str(rule_id))
    item.get_by_role("button", name="发放积分").click()
    screenshot(staff, "panel-deed-approved")
    desk.close()

    phone.goto(live_server + "/history")
    line = phone.locator(".ledger-lines li").first
    assert "帮助邻里" in line.inner_text() and "+10" in line.inner_text()
    check_page(phone, "deed-paid-history")
