"""The volunteer's day through the pages: sign in by code, sign up, scan in, scan out,
approval, points, history; and the staff side of it."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.activities import activities, attendance, scan_codes
from app.core import clock
from app.core.phones import normalize_phone
from app.models import Attendance, OutboxMessage, SignInCode
from app.points import ledger
from tests.conftest import FreshGlobalsClient, csrf_from


def latest_code(db, phone: str) -> str:
    message = db.session.scalar(
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.recipient == normalize_phone(phone),
            OutboxMessage.kind == "sign_in_code",
        )
        .order_by(OutboxMessage.id.desc())
    )
    return re.search(r"\b\d{6}\b", message.body, re.ASCII).group()


def sign_in_by_code(client, db, phone: str, next_url: str | None = None):
    page = client.get("/signin" + (f"?next={next_url}" if next_url else ""))
    response = client.post("/signin", data={"phone": phone, "csrf_token": csrf_from(page.text)})
    assert response.status_code == 302 and response.headers["Location"] == "/signin/code"
    page = client.get("/signin/code")
    return client.post(
        "/signin/code",
        data={"code": latest_code(db, phone), "csrf_token": csrf_from(page.text)},
    )


def post_form(client, url: str, page_url: str, **data):
    token = csrf_from(client.get(page_url).text)
    return client.post(url, data={"csrf_token": token, **data})


@pytest.fixture
def staff_client(app, db):
    app.test_client_class = FreshGlobalsClient
    return app.test_client()


def test_sign_in_by_code_keeps_the_phone_signed_in_for_30_days(
    client, db, app_clock, make_volunteer
):
    volunteer = make_volunteer(name="王芳", phone="+8613800138011")
    response = sign_in_by_code(client, db, "138 0013 8011")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = client.get_cookie("remember_token")
    assert cookie is not None
    lifetime = cookie.expires - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < lifetime <= timedelta(days=30)
    home = client.get("/")
    assert "王芳" in home.text and "可用积分" in home.text
    # The code went out through the outbox (shown, not sent, in demo mode) and is used up.
    message = db.session.scalar(sa.select(OutboxMessage).filter_by(recipient=volunteer.phone))
    assert message.status == "shown"
    assert db.session.scalar(sa.select(SignInCode)).used_at is not None


def test_asking_again_within_the_minute_goes_to_the_code_page(client, db, app_clock):
    page = client.get("/signin")
    token = csrf_from(page.text)
    client.post("/signin", data={"phone": "13900004444", "csrf_token": token})
    app_clock.advance(seconds=20)
    again = client.post("/signin", data={"phone": "139 0000 4444", "csrf_token": token})
    assert again.headers["Location"] == "/signin/code"
    told = client.get("/signin/code").text
    assert "没有发送新的验证码" in told and "40 秒后可再次获取" in told


def test_wrong_codes_are_counted_and_lock(client, db, app_clock, make_volunteer):
    make_volunteer(phone="+8613800138012")
    page = client.get("/signin")
    client.post("/signin", data={"phone": "13800138012", "csrf_token": csrf_from(page.text)})
    right = latest_code(db, "+8613800138012")
    wrong = "000000" if right != "000000" else "111111"
    token = csrf_from(client.get("/signin/code").text)
    for left in (4, 3, 2, 1):
        page = client.post("/signin/code", data={"code": wrong, "csrf_token": token})
        assert page.status_code == 200 and f"还可尝试 {left} 次" in page.text
    page = client.post("/signin/code", data={"code": wrong, "csrf_token": token})
    assert "错误次数过多" in page.text
    # The right code now is refused, saying until when (not "expired").
    app_clock.advance(minutes=1)
    page = client.post("/signin/code", data={"code": right, "csrf_token": token})
    ends = clock.local(app_clock() + timedelta(minutes=14), None).strftime("%H:%M")
    assert f"错误次数过多，请在 {ends}（14 分钟后）再试" in page.text
    assert client.get("/activities").status_code == 302  # still not signed in


def test_a_new_phone_joins_by_name_and_community(client, db, app_clock, make_community):
    community = make_community("阳光社区")
    response = sign_in_by_code(client, db, "13900002222")
    assert response.headers["Location"] == "/join"
    page = client.get("/join")
    assert "阳光社区" in page.text
    response = client.post(
        "/join",
        data={"name": "新居民", "community": community.id, "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 302
    home = client.get("/")
    assert "新居民" in home.text


def test_the_whole_day(
    client, staff_client, db, app_clock, make_activity, make_volunteer, make_user, login
):
    activity = make_activity(
        title="敬老院探访", needs_approval=True, points=15, starts_in=timedelta(minutes=10)
    )
    volunteer = make_volunteer(name="王芳", phone="+8613800138013", community=activity.community)
    staff = make_user(communities=[activity.community])

    sign_in_by_code(client, db, "13800138013")
    listing = client.get("/activities")
    assert "敬老院探访" in listing.text
    detail_url = f"/activities/{activity.id}"
    response = post_form(client, f"{detail_url}/signup", detail_url)
    assert response.status_code == 302
    assert "您已报名" in client.get(detail_url).text

    # Scan the projector's check-in QR (a URL) with the phone.
    token = scan_codes.scan_token(activity, "in", app_clock())
    # Signed in, the code's URL is the confirmation page itself (no redirect first): it
    # records nothing (a link preview must not check anyone in); its form, which sends
    # itself, posts to /scan/confirm.
    confirm = client.get(f"/scan/in/{token}")
    assert confirm.status_code == 200 and "data-autosubmit" in confirm.text
    assert 'action="/scan/confirm"' in confirm.text
    assert confirm.headers["Cache-Control"] == "no-store"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attendance)) == 0
    done = client.post("/scan/confirm", data={"csrf_token": csrf_from(confirm.text)})
    assert "签到成功" in done.text and "10:30" in done.text
    # The same code again: one check-in, a friendly answer.
    client.get(f"/scan/in/{token}")
    again = post_form(client, "/scan/confirm", "/scan/confirm")
    assert "您已在 10:30 签到" in again.text

    # Two hours later, scan the check-out code.
    app_clock.advance(hours=2, minutes=10)
    token = scan_codes.scan_token(activity, "out", app_clock())
    client.get(f"/scan/out/{token}")
    done = post_form(client, "/scan/confirm", "/scan/confirm")
    assert "签退成功" in done.text and "等待工作人员审核" in done.text
    assert ledger.find_wallet(volunteer).balance == 0
    # Nothing verified yet: no certificate of 0 hours to print, a way to earn some instead.
    empty = client.get("/certificate")
    assert "data-print" not in empty.text and "/activities" in empty.text

    # Staff approve it in the panel; the points arrive.
    page = staff_client.get("/login")
    staff_client.post(
        "/login",
        data={
            "login": staff.phone,
            "password": "correct horse",
            "csrf_token": csrf_from(page.text),
        },
    )
    panel = staff_client.get(f"/panel/activities/{activity.id}")
    assert "王芳" in panel.text and "等待审核" in panel.text
    record = db.session.scalar(sa.select(Attendance))
    response = staff_client.post(
        f"/panel/activities/{activity.id}/attendances/{record.id}/approve",
        data={"csrf_token": csrf_from(panel.text)},
    )
    assert response.status_code == 302
    assert ledger.balance(ledger.wallet_for(volunteer)) == 15

    history = client.get("/history")
    assert "活动：敬老院探访" in history.text and "+15" in history.text
    assert "李社工" in history.text  # who awarded it
    assert "2.2" in history.text  # 130 verified minutes this month
    certificate = client.get("/certificate")
    assert "服务时长证明" in certificate.text and "敬老院探访" in certificate.text
    assert "data-print" in certificate.text
    assert ledger.check() == []


def test_scanning_before_signing_in_keeps_the_scan(
    client, db, app_clock, make_activity, make_volunteer
):
    activity = make_activity()
    make_volunteer(phone="+8613800138014", community=activity.community)
    token = scan_codes.scan_token(activity, "in", app_clock())
    response = client.get(f"/scan/in/{token}")
    assert response.headers["Location"].startswith("/signin?next=")
    app_clock.advance(minutes=3)  # signing in takes a while; the code on screen has rotated
    response = sign_in_by_code(client, db, "13800138014", next_url="/scan/confirm")
    assert response.headers["Location"] == "/scan/confirm"
    done = post_form(client, "/scan/confirm", "/scan/confirm")
    assert "签到成功" in done.text and "10:30" in done.text  # the time of the scan


def test_an_old_or_forged_code_is_refused_with_a_clear_message(
    client, db, app_clock, make_activity
):
    activity = make_activity()
    token = scan_codes.scan_token(activity, "in", app_clock())
    app_clock.advance(seconds=2 * scan_codes.ROTATION_SECONDS)
    page = client.get(f"/scan/in/{token}")
    assert page.status_code == 422 and "二维码已过期，请重新扫描" in page.text
    page = client.get(f"/scan/in/{token[:-3]}abc")
    assert page.status_code == 422 and "不是有效的签到码" in page.text


def test_my_code_page_gives_a_fresh_code_as_json_and_without_javascript(
    client, db, app_clock, make_volunteer
):
    make_volunteer(phone="+8613800138015")
    sign_in_by_code(client, db, "13800138015")
    page = client.get("/me/code")
    token = csrf_from(page.text)
    answer = client.post(
        "/me/code", headers={"Accept": "application/json", "X-CSRFToken": token}
    ).get_json()
    assert answer["svg"].startswith("<svg") and len(answer["digits"]) == 8
    assert answer["expires_in"] == 60
    plain = client.post("/me/code", data={"csrf_token": token})
    assert "<svg" in plain.text and "13800138015" not in plain.text


def test_staff_check_in_at_the_desk_and_csv(
    client, db, app_clock, make_activity, make_volunteer, make_user, login
):
    activity = make_activity(title="义诊")
    elder = make_volunteer(name="赵大爷", community=activity.community)
    login(make_user(communities=[activity.community]))
    page = client.get(f"/panel/activities/{activity.id}?q=赵大")
    assert "赵大爷" in page.text
    client.post(
        f"/panel/activities/{activity.id}/checkin",
        data={"person": elder.id, "csrf_token": csrf_from(page.text)},
    )
    record = attendance.attendance_of(activity, elder)
    assert record.method == "staff"
    csv = client.get(f"/panel/activities/{activity.id}/attendances.csv")
    assert csv.data.startswith("\ufeff".encode()) and "赵大爷" in csv.data.decode()


def test_staff_only_see_activities_of_their_communities(
    client, db, app_clock, make_activity, make_user, make_community, login
):
    theirs = make_activity()
    login(make_user(communities=[make_community()]))
    assert client.get(f"/panel/activities/{theirs.id}").status_code == 404
    assert client.get(f"/panel/activities/{theirs.id}/screen").status_code == 404


def test_projector_page_and_its_live_state(client, db, app_clock, make_activity, make_user, login):
    activity = make_activity(hours=1)
    login(make_user(communities=[activity.community]))
    page = client.get(f"/panel/activities/{activity.id}/screen")
    assert page.status_code == 200 and "<svg" in page.text and "签到" in page.text
    state = client.get(f"/panel/activities/{activity.id}/screen.json").get_json()
    assert set(state["codes"]) == {"in"} and state["checked_in"] == 0
    # Beside the QR code, the 4 digits for 签到 by text message.
    assert state["shorts"]["in"] == scan_codes.short_code(activity, "in", app_clock())
    assert state["shorts"]["in"] in page.text
    app_clock.advance(minutes=31)  # the last half hour: the check-out code appears too
    state = client.get(f"/panel/activities/{activity.id}/screen.json").get_json()
    assert set(state["codes"]) == {"in", "out"}


def test_staff_create_an_activity_in_their_time_zone(
    client, db, app_clock, make_user, make_community, login
):
    community = make_community("阳光社区")
    login(make_user(communities=[community]))
    page = client.get("/panel/activities/new")
    response = client.post(
        "/panel/activities/new",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "垃圾分类宣传",
            "community": community.id,
            "team": 0,
            "place": "小区广场",
            "starts_at": "2026-11-20T09:00",
            "ends_at": "2026-11-20T11:00",
            "capacity": "20",
            "points_rule": "per_hour",
            "points": "5",
        },
    )
    assert response.status_code == 302
    created = activities.for_communities({community.id})[0]
    assert created.starts_at.isoformat() == "2026-11-20T01:00:00+00:00"
    assert created.capacity == 20 and created.points_rule == "per_hour"
    # Bad input comes back on the form, named.
    response = client.post(
        "/panel/activities/new",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "x",
            "community": community.id,
            "team": 0,
            "starts_at": "2026-11-20T11:00",
            "ends_at": "2026-11-20T09:00",
            "points_rule": "fixed",
            "points": "5",
        },
    )
    assert response.status_code == 200 and "结束时间须晚于开始时间" in response.text


def test_staff_reject_and_correct_times_in_the_attendance_list(
    client, db, app_clock, make_activity, make_volunteer, make_user, login
):
    activity = make_activity(points_rule="per_hour", points=10, hours=3, needs_approval=True)
    first = make_volunteer(community=activity.community, name="甲")
    second = make_volunteer(community=activity.community, name="乙")
    for person in (first, second):
        attendance.check_in(activity, person, now=app_clock())
    login(make_user(communities=[activity.community]))
    page = client.get(f"/panel/activities/{activity.id}")
    token = csrf_from(page.text)
    one = attendance.attendance_of(activity, first)
    two = attendance.attendance_of(activity, second)
    base = f"/panel/activities/{activity.id}/attendances"
    client.post(f"{base}/{one.id}/reject", data={"csrf_token": token, "reason": "代签"})
    assert one.status == "rejected" and one.note == "代签"
    app_clock.advance(hours=4)
    response = client.post(
        f"{base}/{two.id}/times",
        data={
            "csrf_token": token,
            "checked_in_at": "2026-11-15T10:30",
            "checked_out_at": "2026-11-15T12:30",
            "reason": "忘记签退",
        },
    )
    assert "已更正时间：乙" in client.get(response.headers["Location"]).text
    assert two.minutes == 120 and two.points == 20 and two.status == "pending"
    refused = client.post(
        f"{base}/{one.id}/times",
        data={
            "csrf_token": token,
            "checked_in_at": "2026-11-15T10:30",
            "checked_out_at": "2026-11-15T12:30",
            "reason": "x",
        },
    )
    assert "已被驳回" in client.get(refused.headers["Location"]).text


def test_the_volunteer_card_shows_who_and_opens_the_record_only_for_staff(
    client, staff_client, db, app_clock, make_volunteer, make_user, login
):
    volunteer = make_volunteer(name="王芳", phone="+8613800138031", points=25)
    volunteer.verified_minutes = 130
    db.session.flush()
    assert client.get("/card").status_code == 302  # signed in only
    sign_in_by_code(client, db, "13800138031")
    card = client.get("/card")
    assert card.status_code == 200
    for shown in ("电子志愿者证", "王芳", volunteer.community.name, "2.2", "25", "<svg"):
        assert shown in card.text, shown
    assert "138" not in card.text.split("<main", 1)[1]  # no phone number on a card shown around
    # What its QR code opens: the record, for staff of the community, and for nobody else.
    record = f"/panel/residents/{volunteer.id}"
    assert client.get(record).status_code == 403
    staff = make_user(communities=[volunteer.community])
    page = staff_client.get("/login")
    token = csrf_from(page.text)
    data = {"login": staff.phone, "password": "correct horse", "csrf_token": token}
    staff_client.post("/login", data=data)
    assert "王芳" in staff_client.get(record).text


def test_the_activity_list_says_who_organises_and_how_many_places_are_left(
    client, db, app_clock, make_activity, make_volunteer
):
    activity = make_activity(title="社区义诊", capacity=4, starts_in=timedelta(days=1))
    volunteer = make_volunteer(phone="+8613800138032", community=activity.community)
    activities.sign_up(activity, volunteer, now=app_clock())
    sign_in_by_code(client, db, "13800138032")
    listing = client.get("/activities").text
    assert f"组织方：{activity.community.name}" in listing
    assert "还剩 3 个名额" in listing and 'aria-label="已报名 1 / 4 人"' in listing


def test_an_activity_has_a_cover_picture_made_small_and_served_to_volunteers(
    client, staff_client, db, app_clock, make_user, make_community, make_volunteer
):
    import io

    from PIL import Image

    community = make_community("阳光社区")
    staff = make_user(communities=[community])
    page = staff_client.get("/login")
    data = {"login": staff.phone, "password": "correct horse", "csrf_token": csrf_from(page.text)}
    staff_client.post("/login", data=data)
    picture = io.BytesIO()
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(picture, "PNG")
    page = staff_client.get("/panel/activities/new")
    fields = {
        "csrf_token": csrf_from(page.text),
        "title": "植树活动",
        "community": community.id,
        "team": 0,
        "place": "小区花园",
        "starts_at": "2026-11-20T09:00",
        "ends_at": "2026-11-20T11:00",
        "points_rule": "fixed",
        "points": "10",
    }
    not_a_photo = staff_client.post(
        "/panel/activities/new",
        data={**fields, "photo": (io.BytesIO(b"%PDF-1.4"), "plan.pdf")},
        content_type="multipart/form-data",
    )
    assert not_a_photo.status_code == 200 and activities.for_communities({community.id}) == []
    response = staff_client.post(
        "/panel/activities/new",
        data={**fields, "photo": (io.BytesIO(picture.getvalue()), "tree.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    activity = activities.for_communities({community.id})[0]
    assert activity.photo and activity.photo.startswith(f"{activity.id}-")
    make_volunteer(phone="+8613800138033", community=community)
    sign_in_by_code(client, db, "13800138033")
    listing = client.get("/activities").text
    assert f"/activities/photo/{activity.photo}" in listing
    served = client.get(f"/activities/photo/{activity.photo}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(served.data)).size) <= 1200  # made small
    assert client.get("/activities/photo/../../etc").status_code == 404


def test_the_next_star_is_said_in_the_singular_and_the_plural(
    client, db, app_clock, make_volunteer
):
    volunteer = make_volunteer(phone="+8613800138034")
    sign_in_by_code(client, db, "13800138034")
    assert "100.0 more verified hours to 1 star." in client.get("/?lang=en").text
    volunteer.verified_minutes = 100 * 60
    db.session.flush()
    assert "200.0 more verified hours to 2 stars." in client.get("/").text
    assert "即可升为 2 星" in client.get("/?lang=zh").text
