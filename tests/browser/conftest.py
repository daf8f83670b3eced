"""Playwright driving Debian's Chromium (Playwright's own browser download cannot work here)."""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LINLI_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def phone(browser):
    """A phone-sized page (390×844) that records console errors and page errors."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in_by_code(page, base: str, phone: str) -> None:
    """Sign a volunteer in at /signin with the code read from the demo outbox page."""
    import re

    page.goto(base + "/signin")
    page.get_by_label("手机号码").fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    page.wait_for_url("**/signin/code")
    outbox = page.context.new_page()
    outbox.goto(base + "/panel/outbox")
    code = re.search(r"验证码：(\d{6})", outbox.locator("table").inner_text()).group(1)
    outbox.close()
    page.get_by_label("短信中的 6 位验证码").fill(code)
    page.get_by_role("button", name="登录").click()


def sign_in_by_password(page, base: str, login: str, password: str = "correct horse") -> None:
    page.goto(base + "/login")
    page.get_by_label("手机号或登录名").fill(login)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
