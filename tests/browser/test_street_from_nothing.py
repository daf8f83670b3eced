"""A street from nothing, in a real browser, exactly as the README's "Setting up a street"
says: after one `create-user --role admin`, the administrator creates a community, a
social worker and a community-level partner with an operator and an offer (desktop); the
worker sets a password through the one-time link, imports residents, gives one of them
points and creates an activity; the operator sets a password on a phone (390×844), signs
in and redeems the resident's code."""

import re

import pytest

from tests.browser.conftest import (
    PHONE,
    no_horizontal_scroll,
    screenshot,
    sign_in_by_code,
    sign_in_by_password,
)

pytestmark = [pytest.mark.browser, pytest.mark.once, pytest.mark.committing]
DESK = {"width": 1280, "height": 900}


@pytest.fixture
def administrator(committed_app, now):
    """What `flask create-user --role admin` leaves: one account, nothing else."""
    from app.core.database import commit_unit_of_work
    from app.people import people

    with committed_app.app_context():
        people.create_user(
            kind="admin",
            name="街道管理员",
            phone="13900000001",
            password="correct horse",
            login="admin",
            now=now,
            actor=None,
            source="cli",
        )
        commit_unit_of_work()


def latest_link(page, base: str, phone_tail: str) -> str:
    """The set-password link sent to the phone ending in `phone_tail` (the demo outbox)."""
    outbox = page.context.new_page()
    outbox.goto(base + "/panel/outbox")
    rows = outbox.locator("tr", has_text=phone_tail).all_inner_texts()
    outbox.close()
    links = [m.group(0) for row in rows for m in [re.search(r"/set-password/[\w-]+", row)] if m]
    assert links, rows
    return base + links[0]


def set_password(page, link: str, password: str) -> None:
    page.goto(link)
    page.get_by_label("新密码（至少 8 个字符）").fill(password)
    page.get_by_label("再次输入新密码").fill(password)
    page.get_by_role("button", name="设置密码").click()


def sign_out(page) -> None:
    page.get_by_role("button", name="退出").click()


def test_a_street_from_nothing(committed_app, live_server, administrator, browser, tmp_path):
    desk_context = browser.new_context(viewport=DESK, locale="zh-CN")
    desk = desk_context.new_page()
    errors: list[str] = []
    desk.on("pageerror", lambda exc: errors.append(str(exc)))

    # 1. The administrator: a community.
    sign_in_by_password(desk, live_server, "admin")
    desk.goto(live_server + "/panel/org")
    assert "还没有社区" in desk.locator("main").inner_text()
    desk.get_by_label("社区名称").last.fill("阳光社区")
    desk.get_by_label("街道").fill("幸福街道")
    desk.get_by_role("button", name="创建社区").click()
    assert "阳光社区" in desk.locator("table").inner_text()
    desk.get_by_label("居民发短信或拨打的号码").fill("10690000")
    desk.get_by_role("button", name="保存").first.click()
    screenshot(desk, "panel-communities")

    # 2. A social worker for it.
    desk.goto(live_server + "/panel/staff")
    desk.get_by_label("姓名", exact=True).fill("李社工")
    desk.get_by_label("手机号码").fill("13900000010")
    desk.get_by_label("阳光社区").check()
    desk.get_by_role("button", name="创建账号").click()
    assert "设置密码的链接已发到对方手机" in desk.locator(".flash").inner_text()
    screenshot(desk, "panel-staff-member")

    # 3. A community-level partner, its offer and its operator.
    desk.goto(live_server + "/panel/merchants")
    assert "还没有红色合伙人" in desk.locator("main").inner_text()
    desk.get_by_role("link", name="新增合伙人").click()
    desk.get_by_label("合伙人名称").fill("老王面馆")
    desk.get_by_label("阳光社区").check()
    desk.get_by_label("或填写新类别").fill("面馆")
    desk.get_by_label("地址").fill("幸福路8号")
    desk.get_by_label("营业时间").fill("10:00-21:00")
    desk.get_by_label("联系人").fill("王老板")
    desk.get_by_label("联系电话").fill("13900000020")
    desk.get_by_label("简介（显示在志愿者的兑换目录中）").fill("手工拉面，志愿者半价。")
    screenshot(desk, "panel-partner-form")
    desk.get_by_role("button", name="保存").click()
    assert "老王面馆" in desk.locator("h1").inner_text()
    desk.get_by_role("link", name="新建兑换项目").click()
    desk.get_by_label("标题").fill("牛肉面一碗")
    desk.get_by_label("积分", exact=True).fill("30")
    desk.get_by_role("button", name="保存").click()
    desk.locator("input[name=op-name]").fill("王小二")
    desk.locator("input[name=op-phone]").fill("13900000021")
    desk.get_by_role("button", name="添加操作员").click()
    assert "已添加操作员" in desk.locator(".flash").inner_text()
    assert "王小二" in desk.locator("main").inner_text()
    screenshot(desk, "panel-partner")
    worker_link = latest_link(desk, live_server, "0010")
    operator_link = latest_link(desk, live_server, "0021")
    sign_out(desk)

    # 4. The worker sets a password, imports residents, gives points, creates an activity.
    set_password(desk, worker_link, "worker-pass-2026")
    desk.wait_for_url("**/panel/")
    rows = ["手机号,姓名,网格,楼栋,单元,房号,标签"]
    rows += [f"1380000000{i},居民{i},第1网格,1号楼,1单元,{101 + i}," for i in range(5)]
    csv_file = tmp_path / "居民.csv"
    csv_file.write_bytes("\r\n".join(rows).encode("utf-8"))
    desk.goto(live_server + "/panel/residents/import")
    desk.get_by_label("CSV 文件").set_input_files(str(csv_file))
    desk.get_by_role("button", name="检查文件").click()
    desk.get_by_role("button", name="导入").click()
    assert "新增或修改 5 人" in desk.locator(".flash").inner_text()
    desk.goto(live_server + "/panel/residents?q=居民1")
    desk.get_by_role("link", name="居民1", exact=True).click()
    desk.get_by_role("link", name="调整积分").click()
    desk.get_by_label("积分（负数表示扣减）").fill("50")
    desk.get_by_label("原因").fill("上月助老服务补录")
    desk.get_by_role("button", name="保存调整").click()
    desk.goto(live_server + "/panel/activities/new")
    desk.get_by_label("标题").fill("楼道清洁日")
    desk.get_by_label("开始时间").fill("2026-11-16T09:00")
    desk.get_by_label("结束时间").fill("2026-11-16T11:00")
    desk.get_by_role("button", name="保存").click()
    assert "楼道清洁日" in desk.locator("h1").inner_text()
    assert errors == [], errors
    desk_context.close()

    # 5. The resident shows a code; the operator sets a password on a phone and redeems it.
    resident_context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
    resident = resident_context.new_page()
    sign_in_by_code(resident, live_server, "13800000001")
    resident.goto(live_server + "/me/code")
    resident.locator(".qr-box svg").wait_for()
    digits = resident.locator("[data-digits]").inner_text().replace(" ", "")

    shop_context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
    shop = shop_context.new_page()
    shop_errors: list[str] = []
    shop.on("pageerror", lambda exc: shop_errors.append(str(exc)))
    shop.goto(operator_link)
    assert "王小二" in shop.locator("main").inner_text()
    assert no_horizontal_scroll(shop)
    screenshot(shop, "set-password-phone")
    set_password(shop, operator_link, "noodles-2026")
    shop.wait_for_url("**/m/*/")
    assert "老王面馆" in shop.locator("h1").inner_text()
    sign_out(shop)
    sign_in_by_password(shop, live_server, "13900000021", "noodles-2026")
    shop.get_by_role("link", name="积分兑换").first.click()
    shop.get_by_label("志愿者的 8 位兑换码").fill(digits)
    shop.get_by_role("button", name="查询").click()
    shop.wait_for_url("**/sale?t=*")
    shop.get_by_role("button", name="确认：扣 30 积分").click()
    shop.wait_for_url("**/receipts/*")
    assert "牛肉面一碗 ×1" in shop.locator(".receipt").inner_text()
    assert no_horizontal_scroll(shop)
    screenshot(shop, "shop-first-receipt")
    assert shop_errors == [], shop_errors
    resident.goto(live_server + "/history")
    assert "老王面馆：牛肉面一碗" in resident.locator(".ledger-lines").inner_text()
    shop_context.close()
    resident_context.close()
