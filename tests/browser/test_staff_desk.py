"""A social worker's desk in a real browser: import 200 residents, award a deed to a
building, a 300-point adjustment approved by a second staff member, the audit log and the
dashboard's charts."""

import pytest

from tests.browser.conftest import screenshot, sign_in_by_password

pytestmark = [pytest.mark.browser, pytest.mark.once, pytest.mark.committing]
DESK = {"width": 1280, "height": 900}


@pytest.fixture
def office(committed_app, now):
    from app.core.database import commit_unit_of_work
    from app.people import org, people

    with committed_app.app_context():
        community = org.create_community("阳光社区", monthly_budget=20000)
        for login, name, phone in (
            ("lisg", "李社工", "13900000010"),
            ("wangsg", "王社工", "13900000011"),
        ):
            people.create_user(
                kind="staff",
                name=name,
                phone=phone,
                password="correct horse",
                login=login,
                communities=[community],
                now=now,
                actor=None,
                source="test",
            )
        commit_unit_of_work()


def test_import_award_adjust_approve_audit_dashboard(
    committed_app, live_server, office, browser, tmp_path
):
    rows = ["手机号,姓名,网格,楼栋,单元,房号,标签"]
    rows += [f"138{i:08d},居民{i},第1网格,{i % 4 + 1}号楼,1单元,{100 + i}," for i in range(200)]
    csv_file = tmp_path / "居民.csv"
    csv_file.write_bytes("\r\n".join(rows).encode("gb18030"))

    context = browser.new_context(viewport=DESK, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in_by_password(page, live_server, "lisg")

    page.goto(live_server + "/panel/residents/import")
    page.get_by_label("CSV 文件").set_input_files(str(csv_file))
    page.get_by_role("button", name="检查文件").click()
    assert page.locator(".figures li").first.inner_text().startswith("200")
    screenshot(page, "panel-import-preview")
    page.get_by_role("button", name="导入").click()
    assert "新增或修改 200 人" in page.locator(".flash").inner_text()

    page.goto(live_server + "/panel/awards")
    page.locator("#rule").select_option(
        page.locator("#rule option", has_text="楼道清洁").get_attribute("value")
    )
    page.get_by_label("整栋楼的居民").check()
    page.locator("select[name=building]").select_option(label="阳光社区 · 第1网格 2号楼")
    page.get_by_role("button", name="预览").click()
    assert "50 人将获得积分" in page.locator("main").inner_text()
    page.get_by_role("button", name="向 50 人发放 5 积分").click()
    assert "50 人获得 5 积分" in page.locator("h1").inner_text()

    page.goto(live_server + "/panel/residents?q=居民7")
    page.get_by_role("link", name="居民7", exact=True).click()
    page.get_by_role("link", name="调整积分").click()
    page.get_by_label("积分（负数表示扣减）").fill("300")
    page.get_by_role("button", name="保存调整").click()
    assert "请填写原因" in page.locator(".field-error").inner_text()
    assert page.get_by_label("积分（负数表示扣减）").input_value() == "300"
    page.get_by_label("原因").fill("补录上月社区义诊服务")
    page.get_by_role("button", name="保存调整").click()
    assert "须由另一位工作人员审核" in page.locator(".flash").inner_text()
    context.close()

    context = browser.new_context(viewport=DESK, locale="zh-CN")
    page = context.new_page()
    sign_in_by_password(page, live_server, "wangsg")
    page.goto(live_server + "/panel/approvals")
    page.locator("#adj-title").wait_for()
    page.locator("tr", has_text="补录上月社区义诊服务").get_by_role("button", name="通过").click()
    assert "已批准：为 居民7 调整 +300 积分，已入账" in page.locator(".flash").inner_text()

    page.goto(live_server + "/panel/audit")
    log = page.locator("table.audit").inner_text()
    # Said in sentences; the action codes are one click away.
    assert "王社工 批准为 居民7 调整 +300 积分" in log
    assert "李社工 提议为 居民7 调整 +300 积分" in log
    assert "发放 +5 积分" in log and "李社工 登记了居民 居民152" in log
    page.locator("table.audit details").first.locator("summary").click()
    assert "adjustment.approve" in page.locator("table.audit details").first.inner_text()
    screenshot(page, "panel-audit-after")
    page.goto(live_server + "/panel/dashboard")
    assert page.locator(".chart svg").count() == 6
    assert page.locator(".budget-bar").count() >= 1
    assert "每周积分" in page.locator(".charts").inner_text()
    screenshot(page, "panel-dashboard-after")
    assert errors == []
    context.close()

    with committed_app.app_context():
        from app.people import people
        from app.points import ledger

        assert ledger.balance(ledger.wallet_for(people.get_by_phone("13800000007"))) == 300
        assert ledger.check() == []
