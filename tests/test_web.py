"""Pages through the Flask test client: languages, sign-in, who may see what, errors."""

import pytest

from app.models import Merchant
from tests.conftest import csrf_from


def test_home_page_is_chinese_by_default_and_english_on_request(client, make_volunteer):
    make_volunteer(points=30)
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "邻里好事" in page.text
    english = client.get("/?lang=en")
    assert '<html lang="en">' in english.text
    assert "Good deeds in the neighbourhood" in english.text
    # The choice is remembered for the next page.
    assert "Sign in" in client.get("/login").text


def test_browser_language_is_honoured(client, db):
    page = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in page.text
    page = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in page.text


def test_demo_banner_and_logins_only_in_demo_mode(app, client, db):
    page = client.get("/login")
    assert "演示模式" in page.text
    assert "linli-demo-2026" in page.text
    app.config["DEMO_MODE"] = False
    try:
        page = client.get("/login")
        assert "演示模式" not in page.text
        assert "linli-demo-2026" not in page.text
    finally:
        app.config["DEMO_MODE"] = True


def test_staff_signs_in_with_phone_or_login_and_lands_on_the_panel(client, login, make_user):
    staff = make_user("staff", login="lishegong")
    response = login(staff)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/panel/")
    panel = client.get("/panel/")
    assert panel.status_code == 200
    assert staff.staff_communities[0].community.name in panel.text
    client.post("/logout", data={"csrf_token": csrf_from(panel.text)})
    assert login("lishegong").headers["Location"].endswith("/panel/")


def test_wrong_password_says_so_without_telling_which_part(client, login, make_user):
    staff = make_user("staff")
    for who in (staff, "nobody-here", "13800000000"):
        response = login(who, password="not the password")
        assert response.status_code == 200
        assert "手机号、登录名或密码不正确" in response.text
    assert client.get("/panel/").status_code == 302


def test_sign_in_form_needs_its_csrf_token(client, make_user):
    staff = make_user("staff")
    response = client.post("/login", data={"login": staff.phone, "password": "correct horse"})
    assert response.status_code == 400
    assert client.get("/panel/").status_code == 302


def test_next_goes_only_to_this_site(client, make_user):
    staff = make_user("staff")
    for target, expected in [
        ("/panel/outbox", "/panel/outbox"),
        ("https://evil.example/", "/panel/"),
        ("//evil.example/", "/panel/"),
    ]:
        page = client.get("/login")
        response = client.post(
            f"/login?next={target}",
            data={
                "login": staff.phone,
                "password": "correct horse",
                "csrf_token": csrf_from(page.text),
            },
        )
        assert response.headers["Location"] == expected
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/panel/").text)})


@pytest.fixture
def shop_operator(db, make_user):
    merchant = Merchant(name="老张理发店", tier="community", category="理发")
    db.session.add(merchant)
    db.session.flush()
    return make_user("merchant", merchant=merchant)


@pytest.mark.parametrize("path", ["/panel/", "/panel/activities"])
def test_panel_is_for_staff_only(client, login, make_user, make_volunteer, shop_operator, path):
    assert client.get(path).status_code == 302  # anonymous → sign-in page
    resident = make_volunteer()
    from app.people import people

    people.set_password(resident, "correct horse")
    login(resident)
    assert client.get(path).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
    login(shop_operator)
    assert client.get(path).status_code == 403


def test_merchant_pages_are_for_operators_only(client, login, make_user, shop_operator):
    assert client.get("/m/").status_code == 302
    login(make_user("staff"))
    assert client.get("/m/").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
    response = login(shop_operator)
    assert response.headers["Location"].endswith("/m/")
    page = client.get("/m/", follow_redirects=True)
    assert page.status_code == 200
    assert "老张理发店" in page.text


def test_staff_see_their_own_communities_and_admins_see_all(
    client, login, make_user, make_community
):
    mine = make_community("阳光社区")
    make_community("和平社区")
    login(make_user("staff", communities=[mine]))
    page = client.get("/panel/").text
    assert "阳光社区" in page and "和平社区" not in page
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    login(make_user("admin", phone="13900000001"))
    page = client.get("/panel/").text
    assert "阳光社区" in page and "和平社区" in page


def test_dev_outbox_shows_messages_in_demo_mode_only(
    app, client, login, make_user, make_volunteer, now
):
    from app.points import awards

    person = make_volunteer(name="王芳")
    awards.award(
        person, 15, reason="楼道清洁", idempotency_key="k", now=now, actor=None, source="test"
    )
    # Nothing is sent in demo mode, so anyone may read what would have been.
    page = client.get("/panel/outbox")
    assert "您获得 15 积分：楼道清洁。当前余额 15 积分。" in page.text
    app.config["SMS_GATEWAY_URL"] = "http://127.0.0.1:9"
    try:  # with a real gateway, real codes: staff only
        assert client.get("/panel/outbox").status_code == 403
        login(make_user("staff"))
        assert client.get("/panel/outbox").status_code == 200
    finally:
        app.config["SMS_GATEWAY_URL"] = None
        # The sender is made once per app: the one made for the gateway must not outlive it
        # (later tests' codes would go to 127.0.0.1:9 and stay pending).
        app.extensions.pop("linli_sms_sender", None)
    app.config["DEMO_MODE"] = False
    try:
        assert client.get("/panel/outbox").status_code == 404
    finally:
        app.config["DEMO_MODE"] = True


def test_errors_are_friendly_pages_or_json(client, db):
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert "页面不存在" in page.text
    assert "返回首页" in page.text
    english = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert "This page does not exist." in english.text
    data = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert data.status_code == 404
    assert data.json["error"]["code"] == "not_found"
    assert data.json["error"]["message"] == "页面不存在。"
    assert client.post("/", headers={"Accept": "application/json"}).status_code in (400, 405)


def test_unexpected_errors_give_a_500_page(app):
    from app import create_app

    other = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})

    @other.route("/test-boom")
    def boom():
        raise RuntimeError("boom")

    client = other.test_client()
    page = client.get("/test-boom")
    assert page.status_code == 500
    assert "服务器出了点问题" in page.text
    assert "RuntimeError" not in page.text
    data = client.get("/test-boom", headers={"Accept": "application/json"})
    assert data.json == {
        "error": {"code": "internal_error", "message": "服务器出了点问题，请稍后再试。"}
    }


def test_every_response_carries_a_request_id(client, db, caplog):
    first = client.get("/")
    assert len(first.headers["X-Request-ID"]) == 32
    echoed = client.get("/", headers={"X-Request-ID": "req-12345678"})
    assert echoed.headers["X-Request-ID"] == "req-12345678"
    forged = client.get("/", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert len(forged.headers["X-Request-ID"]) == 32
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["X-Frame-Options"] == "DENY"


def test_audit_events_record_the_client_address(app, client, login, make_user, make_activity, db):
    import sqlalchemy as sa

    from app.models import AuditEvent

    activity = make_activity()
    login(make_user(communities=[activity.community]))
    page = client.get(f"/panel/activities/{activity.id}/edit")
    client.post(
        f"/panel/activities/{activity.id}/edit",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "改过的标题",
            "team": 0,
            "starts_at": "2026-11-15T10:30",
            "ends_at": "2026-11-15T12:30",
            "points_rule": "fixed",
            "points": "10",
        },
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    event = db.session.scalar(
        sa.select(AuditEvent).filter_by(action="activity.update").order_by(AuditEvent.id.desc())
    )
    assert event.ip == "203.0.113.7" and event.after["title"] == "改过的标题"
