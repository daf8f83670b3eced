"""A new volunteer's day in a real browser at phone size, with staff at a desktop."""

import re
from datetime import timedelta

import pytest

from tests.browser.conftest import no_horizontal_scroll, screenshot
from tests.conftest import Clock

pytestmark = [pytest.mark.browser, pytest.mark.once, pytest.mark.committing]


@pytest.fixture
def event(committed_app, now):
    """A community with an activity on now (needs approval) and its social worker."""
    from app.activities import activities
    from app.core.database import commit_unit_of_work
    from app.people import org, people

    clock = Clock(now)
    committed_app.config["LINLI_CLOCK"] = clock
    with committed_app.app_context():
        community = org.create_community("阳光社区", monthly_budget=5000)
        activity = activities.create_activity(
            community,
            activities.ActivityFields(
                title="敬老院探访",
                place="幸福敬老院",
                starts_at=now - timedelta(minutes=5),
                ends_at=now + timedelta(hours=2),
                points=20,
                needs_approval=True,
            ),
            actor=None,
            now=now,
            source="test",
        )
        people.create_user(
            kind="staff",
            name="李社工",
            phone="13900000010",
            password="correct horse",
            login="lishegong",
            communities=[community],
            now=now,
            actor=None,
            source="test",
        )
        activity_id = activity.id
        commit_unit_of_work()
    yield {"clock": clock, "activity_id": activity_id}
    committed_app.config.pop("LINLI_CLOCK", None)


def scan_url(app, base: str, activity_id: int, kind: str, clock) -> str:
    """The URL the projector's QR code holds right now (what the phone's camera opens)."""
    from app.activities import activities, scan_codes

    with app.app_context():
        token = scan_codes.scan_token(activities.get_activity(activity_id), kind, clock())
    return f"{base}/scan/{kind}/{token}"


def check_page(page, name: str) -> None:
    assert no_horizontal_scroll(page), name
    assert page.errors == [], page.errors
    screenshot(page, name)


def test_new_volunteer_signs_in_scans_in_and_out_and_sees_points(
    committed_app, live_server, event, phone, browser
):
    clock = event["clock"]
    phone.goto(live_server + "/")
    phone.get_by_role("link", name="登录").first.click()
    phone.get_by_label("手机号码").fill("139 0000 3333")
    check_page(phone, "volunteer-signin-phone")
    phone.get_by_role("button", name="获取验证码").click()
    phone.wait_for_url("**/signin/code")

    # Demo mode sends nothing: the code is read on the demo outbox page.
    with phone.context.expect_page() as opened:
        phone.get_by_role("link", name="在演示发件箱查看验证码").click()
    outbox = opened.value
    outbox.wait_for_load_state()
    code = re.search(r"验证码：(\d{6})", outbox.locator("table").inner_text()).group(1)
    outbox.close()

    phone.get_by_label("短信中的 6 位验证码").fill(code)
    check_page(phone, "volunteer-signin-code")
    phone.get_by_role("button", name="登录").click()
    phone.wait_for_url("**/join")
    phone.get_by_label("您的姓名").fill("陈新")
    phone.get_by_label("所在社区").select_option(label="阳光社区")
    phone.get_by_role("button", name="加入").click()
    phone.wait_for_url(live_server + "/")
    assert "欢迎加入邻里，陈新" in phone.locator(".flash").inner_text()
    check_page(phone, "volunteer-home")

    # Scan the projector's check-in code: the page records the check-in by itself.
    phone.goto(scan_url(committed_app, live_server, event["activity_id"], "in", clock))
    phone.wait_for_url("**/scan/confirm")
    phone.locator(".done").wait_for()
    assert "签到成功：10:30" in phone.locator(".done h1").inner_text()
    check_page(phone, "volunteer-checked-in")

    clock.advance(hours=1, minutes=30)
    phone.goto(scan_url(committed_app, live_server, event["activity_id"], "out", clock))
    phone.locator(".done").wait_for()
    assert "签退成功：12:00" in phone.locator(".done h1").inner_text()
    assert "等待工作人员审核" in phone.locator(".done").inner_text()
    check_page(phone, "volunteer-checked-out")

    # The social worker approves at a desktop.
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    staff = desk.new_page()
    staff.goto(live_server + "/login")
    staff.get_by_label("手机号或登录名").fill("lishegong")
    staff.get_by_label("密码").fill("correct horse")
    staff.get_by_role("button", name="登录").click()
    staff.goto(f"{live_server}/panel/activities/{event['activity_id']}")
    row = staff.locator("tr", has_text="陈新")
    assert "等待审核" in row.inner_text()
    row.get_by_role("button", name="通过").click()
    assert "已通过：陈新" in staff.locator(".flash").inner_text()
    screenshot(staff, "panel-attendance")
    desk.close()

    phone.goto(live_server + "/history")
    line = phone.locator(".ledger-lines li").first
    assert "活动：敬老院探访" in line.inner_text() and "+20" in line.inner_text()
    check_page(phone, "volunteer-history")
    phone.goto(live_server + "/")
    assert phone.locator(".figure").first.inner_text() == "20"

    with committed_app.app_context():
        from app.points import ledger

        assert ledger.check() == []


def test_personal_code_and_projector_fit_their_screens(
    committed_app, live_server, event, phone, browser
):
    from app.core.database import commit_unit_of_work
    from app.people import people

    with committed_app.app_context():
        community = people.get_by_phone("13900000010").staff_communities[0].community
        people.create_person(
            name="王芳",
            phone="13800138000",
            community=community,
            now=event["clock"](),
            actor=None,
            source="test",
        )
        commit_unit_of_work()
    phone.goto(live_server + "/signin")
    phone.get_by_label("手机号码").fill("13800138000")
    phone.get_by_role("button", name="获取验证码").click()
    outbox = phone.context.new_page()
    outbox.goto(live_server + "/panel/outbox")
    code = re.search(r"验证码：(\d{6})", outbox.locator("table").inner_text()).group(1)
    outbox.close()
    phone.get_by_label("短信中的 6 位验证码").fill(code)
    phone.get_by_role("button", name="登录").click()
    phone.goto(live_server + "/me/code")
    phone.locator(".qr-box svg").wait_for()
    digits = phone.locator("[data-digits]").inner_text().replace(" ", "")
    assert re.fullmatch(r"\d{8}", digits)
    check_page(phone, "volunteer-my-code")

    screen = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="zh-CN"
    ).new_page()
    screen.goto(live_server + "/login")
    screen.get_by_label("手机号或登录名").fill("lishegong")
    screen.get_by_label("密码").fill("correct horse")
    screen.get_by_role("button", name="登录").click()
    screen.goto(f"{live_server}/panel/activities/{event['activity_id']}/screen")
    assert screen.locator(".screen-code svg").count() == 1
    assert screen.locator("[data-count]").inner_text() == "0"
    screenshot(screen, "projector")
    screen.context.close()
