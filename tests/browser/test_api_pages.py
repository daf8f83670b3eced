"""The API's pages in a real browser: the reference on a phone, and a token made in the
panel at a desk that then works against the API."""

import pytest

from tests.browser.conftest import no_horizontal_scroll, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.once, pytest.mark.committing]

DESK = {"width": 1280, "height": 900}


@pytest.fixture
def community_with_worker(committed_app, now):
    from app.core.database import commit_unit_of_work
    from app.people import org, people

    with committed_app.app_context():
        community = org.create_community("阳光社区")
        people.create_person(
            name="王芳",
            phone="13800138001",
            community=community,
            now=now,
            actor=None,
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
        commit_unit_of_work()


def test_the_api_reference_reads_on_a_phone(live_server, phone):
    phone.goto(live_server + "/api/docs")
    assert phone.locator("h1").inner_text().startswith("API 参考")
    assert phone.locator(".api-index li").count() == 27
    redeem = phone.locator("#redemption_create")
    assert "用志愿者的兑换码兑换本店优惠" in redeem.inner_text()
    assert "Idempotency-Key" in redeem.inner_text()
    assert no_horizontal_scroll(phone)
    assert phone.errors == []
    screenshot(phone, "api-docs-phone")


def test_a_token_made_in_the_panel_works_once_shown(live_server, community_with_worker, browser):
    context = browser.new_context(viewport=DESK, locale="zh-CN")
    page = context.new_page()
    page.goto(live_server + "/login")
    page.get_by_label("手机号或登录名").fill("lishegong")
    page.get_by_label("密码").fill("correct horse")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/panel/")
    page.get_by_role("link", name="API", exact=True).click()
    page.get_by_label("令牌所代表的人的手机号或登录名").fill("138 0013 8001")
    page.get_by_label("用途").fill("居民小程序")
    page.get_by_role("button", name="创建令牌").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("linli_")
    screenshot(page, "panel-api-tokens")

    answer = context.request.get(
        live_server + "/api/v1/ledger", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status == 200 and answer.json()["balance"] == 0
    page.goto(live_server + "/panel/api-tokens")  # not a reload: that would post again
    assert token not in page.content()
    page.get_by_role("button", name="撤销令牌 #1").click()
    assert "令牌 #1 已失效" in page.locator(".flash").inner_text()
    refused = context.request.get(
        live_server + "/api/v1/ledger", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status == 401
    context.close()
