"""The shop's live camera on a phone without BarcodeDetector (an iPhone's Safari): Chromium's
fake camera films a volunteer's real QR code, the page sends frames to the server, the server
reads the code, and the sale opens (issue 19). On plain http the box says the camera needs
https instead of offering a button that cannot work."""

from __future__ import annotations

import pytest

from tests.browser.conftest import CHROMIUM, PHONE, sign_in_by_password
from tests.browser.tour import DEMO_PASSWORD, demo_street  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.once, pytest.mark.committing]

NO_DETECTOR = "try { delete window.BarcodeDetector; } catch (e) {}"


def write_y4m(text: str, path) -> None:
    """A few frames of video (YUV 4:2:0) showing the QR code of `text`, as a phone's screen
    held up to the shop's camera: Chromium loops it as its fake camera."""
    import qrcode
    from PIL import Image

    code = qrcode.make(text, box_size=6, border=4).get_image().convert("L")
    code.thumbnail((400, 400))
    frame = Image.new("L", (640, 480), 200)
    frame.paste(code, ((640 - code.width) // 2, (480 - code.height) // 2))
    luma = frame.tobytes()
    chroma = bytes([128]) * (320 * 240)
    with open(path, "wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(10):
            out.write(b"FRAME\n" + luma + chroma + chroma)


@pytest.fixture
def filmed_code(committed_app, demo_street, now, tmp_path):  # noqa: F811
    """张明's live redemption code, on video."""
    import sqlalchemy as sa

    from app.core.database import commit_unit_of_work
    from app.core.extensions import db
    from app.models import Person
    from app.partners import personal_codes

    with committed_app.app_context():
        zhang = db.session.scalar(sa.select(Person).where(Person.name == "张明"))
        issued = personal_codes.issue(zhang, now=now)
        commit_unit_of_work()
        token = issued.token
    video = tmp_path / "code.y4m"
    write_y4m(token, video)
    return video


def test_the_camera_reads_a_code_through_the_server_without_barcode_detector(
    live_server,
    demo_street,  # noqa: F811
    filmed_code,
    browser,
):
    port = live_server.rsplit(":", 1)[1]
    # A Chromium of its own (the fake camera is a launch flag), from the suite's Playwright:
    # a second Playwright cannot start inside the first one's event loop.
    camera_browser = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={filmed_code}",
            # shop.test is this server over plain http: not a secure origin.
            "--host-resolver-rules=MAP shop.test 127.0.0.1",
        ],
    )
    try:
        context = camera_browser.new_context(viewport=PHONE, locale="zh-CN")
        context.add_init_script(NO_DETECTOR)
        page = context.new_page()
        frames = []
        page.on("request", lambda r: "/redeem/frame" in r.url and frames.append(r.url))
        sign_in_by_password(page, live_server, "laozhang", DEMO_PASSWORD)
        page.goto(f"{live_server}/m/{demo_street['shop']}/redeem")
        assert page.evaluate("'BarcodeDetector' in window") is False
        page.get_by_role("button", name="用摄像头扫码").click()
        page.wait_for_url("**/sale?t=*", timeout=20_000)
        assert frames, "the code was read from frames sent to the server"
        assert "张*" in page.locator("main").inner_text()
        context.close()

        # The same page over plain http on a name that is not localhost.
        context = camera_browser.new_context(viewport=PHONE, locale="zh-CN")
        page = context.new_page()
        sign_in_by_password(page, f"http://shop.test:{port}", "laozhang", DEMO_PASSWORD)
        page.goto(f"http://shop.test:{port}/m/{demo_street['shop']}/redeem")
        assert page.evaluate("window.isSecureContext") is False
        assert "只能通过 https" in page.locator("[data-scan-status]").inner_text()
        assert not page.get_by_role("button", name="用摄像头扫码").is_visible()
        context.close()
    finally:
        camera_browser.close()
