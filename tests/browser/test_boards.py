"""The community hall's big-screen board in a real browser: it fits a TV and rotates.

The page's timers run on Playwright's fake clock, so the test never waits 15 seconds.
"""

import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.once, pytest.mark.committing]


@pytest.fixture
def hall(committed_app, now):
    from app.core.database import commit_unit_of_work
    from app.people import org, people
    from app.points import awards

    with committed_app.app_context():
        community = org.create_community("阳光社区")
        for i, (name, points) in enumerate(
            [("王小芳", 80), ("李大明", 50), ("张伟", 50), ("赵敏", 10)]
        ):
            person = people.create_person(
                name=name,
                phone=f"1380013890{i}",
                community=community,
                now=now,
                actor=None,
                source="test",
            )
            awards.award(
                person,
                points,
                reason="测试",
                idempotency_key=f"h{i}",
                now=now,
                actor=None,
                source="test",
                notify=False,
            )
        community_id = community.id
        commit_unit_of_work()
    committed_app.config["LINLI_CLOCK"] = lambda: now
    yield community_id
    committed_app.config.pop("LINLI_CLOCK", None)


def test_big_screen_board_rotates(live_server, hall, browser):
    page = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN").new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.clock.install()
    page.goto(f"{live_server}/boards/screen?community={hall}")
    title = page.locator("[data-board-title]")
    assert "本月（" in title.inner_text() and "）获得积分 · 阳光社区" in title.inner_text()
    places = page.locator(".board-place").all_inner_texts()
    assert places == ["1", "2", "2", "4"]  # ties share a place, the next skips
    assert "王*芳" in page.locator("[data-board-lines]").inner_text()
    screenshot(page, "board-big-screen")
    # Four people is a thin month: last month's board comes next, named as such.
    page.clock.run_for(15_000)
    page.wait_for_function(
        "() => document.querySelector('[data-board-title]').textContent.includes('上月（')"
    )
    page.clock.run_for(15_000)
    page.wait_for_function(
        "() => document.querySelector('[data-board-title]').textContent.includes('全街道')"
    )
    page.clock.run_for(15_000)  # the street's last month, as thin
    page.clock.run_for(15_000)
    page.wait_for_function(
        "() => document.querySelector('[data-board-title]').textContent.includes('今年')"
    )
    assert errors == []
