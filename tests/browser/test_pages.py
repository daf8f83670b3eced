"""The first pages in a real browser at phone size."""

import pytest

from tests.browser.conftest import no_horizontal_scroll, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.once, pytest.mark.committing]


@pytest.fixture
def street(committed_app, now):
    """A community with residents and a social worker, committed for the served app."""
    from app.core.database import commit_unit_of_work
    from app.people import org, people

    with committed_app.app_context():
        community = org.create_community("阳光社区", monthly_budget=5000)
        for i in range(3):
            people.create_person(
                name=f"居民{i}",
                phone=f"1380013800{i}",
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


def test_home_page_fits_a_phone(live_server, street, phone):
    phone.goto(live_server + "/")
    assert phone.locator("h1").inner_text() == "邻里好事，有记录，有回报"
    assert "演示模式" in phone.locator(".demo-banner").inner_text()
    assert no_horizontal_scroll(phone)
    assert phone.errors == []
    screenshot(phone, "home-phone")


def test_sign_in_page_fits_a_phone_and_signs_staff_in(live_server, street, phone):
    phone.goto(live_server + "/login")
    assert phone.get_by_label("手机号或登录名").is_visible()
    assert "linli-demo-2026" in phone.locator(".demo-logins").inner_text()
    assert no_horizontal_scroll(phone)
    assert phone.errors == []
    screenshot(phone, "login-phone")

    phone.get_by_label("手机号或登录名").fill("lishegong")
    phone.get_by_label("密码").fill("wrong password")
    phone.get_by_role("button", name="登录").click()
    assert "手机号、登录名或密码不正确" in phone.locator(".field-error").inner_text()

    phone.get_by_label("密码").fill("correct horse")
    phone.get_by_role("button", name="登录").click()
    phone.wait_for_url("**/panel/")
    assert "阳光社区" in phone.locator("table").inner_text()
    assert phone.errors == []


def test_english_switch(live_server, street, phone):
    phone.goto(live_server + "/")
    phone.get_by_role("link", name="English").click()
    assert (
        phone.locator("h1").inner_text() == "Good deeds in the neighbourhood, counted and thanked"
    )
    assert no_horizontal_scroll(phone)
