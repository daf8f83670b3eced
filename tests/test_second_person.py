"""One person alone cannot make points: hours, split adjustments, zero-minute stays (issue 14)."""

from datetime import timedelta

from app.activities import attendance, scan_codes
from app.core import clock
from app.points import ledger
from tests.conftest import csrf_from


def _activity_body(community, starts_at, hours: float, **extra):
    return {
        "community_id": community.id,
        "title": "社区清扫",
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(hours=hours)).isoformat(),
        "points": 10,
        **extra,
    }


def test_a_worker_cannot_create_days_of_service_in_the_past(
    db, api, now, make_community, make_user
):
    community = make_community()
    worker = api(make_user(communities=[community]))
    long = worker.post(
        "/activities", _activity_body(community, now - timedelta(hours=95), 94), key="a1"
    )
    assert long.status_code == 403 and "24 小时" in long.get_json()["error"]["message"]
    old = worker.post(
        "/activities", _activity_body(community, now - timedelta(days=8), 2), key="a2"
    )
    assert old.status_code == 403 and "7 天" in old.get_json()["error"]["message"]
    ok = worker.post(
        "/activities", _activity_body(community, now - timedelta(hours=3), 2), key="a3"
    )
    assert ok.status_code == 201, ok.text
    admin = api(make_user("admin"))
    body = _activity_body(community, now - timedelta(hours=95), 30)
    assert admin.post("/activities", body, key="a4").status_code == 201


def test_large_hours_entered_and_corrected_by_one_worker_wait_for_a_second(
    client, db, app_clock, login, make_activity, make_volunteer, make_user
):
    activity = make_activity(
        points_rule="per_hour", points=10, hours=12, starts_in=-timedelta(hours=13)
    )
    resident = make_volunteer(community=activity.community)
    maker = make_user(communities=[activity.community], name="甲社工")
    checker = make_user(communities=[activity.community], name="乙社工")
    attendance.check_in(
        activity, resident, now=activity.starts_at, method="staff", recorded_by=maker
    )
    record = attendance.attendance_of(activity, resident)
    login(maker)
    page = client.get(f"/panel/activities/{activity.id}")
    base = f"/panel/activities/{activity.id}/attendances/{record.id}"
    local = clock.local(activity.starts_at, activity.community)
    client.post(
        f"{base}/times",
        data={
            "csrf_token": csrf_from(page.text),
            "checked_in_at": local.strftime("%Y-%m-%dT%H:%M"),
            "checked_out_at": (local + timedelta(hours=11)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "补记",
        },
    )
    assert record.minutes == 660 and record.status == "pending"
    refused = client.post(f"{base}/approve", data={"csrf_token": csrf_from(page.text)})
    assert "另一位工作人员审核" in client.get(refused.headers["Location"]).text
    assert record.status == "pending"
    assert ledger.balance(ledger.wallet_for(resident)) == 0
    client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    login(checker)
    page = client.get(f"/panel/activities/{activity.id}")
    client.post(f"{base}/approve", data={"csrf_token": csrf_from(page.text)})
    assert record.status == "approved" and record.decided_by_id == checker.id
    assert ledger.balance(ledger.wallet_for(resident)) == 110


def test_three_adjustments_of_the_threshold_are_not_three_times_the_threshold(
    db, api, make_community, make_user, make_volunteer
):
    community = make_community()
    worker = api(make_user(communities=[community]))
    resident = make_volunteer(community=community)
    statuses = [
        worker.post(
            "/adjustments",
            {"person_id": resident.id, "points": 200, "reason": "补记"},
            key=f"adj-{n}",
        ).get_json()["status"]
        for n in range(3)
    ]
    assert statuses == ["posted", "pending", "pending"]
    assert ledger.balance(ledger.wallet_for(resident)) == 200
    # Nor can the same worker go round it with direct awards.
    award = worker.post(
        "/awards", {"person_id": resident.id, "points": 10, "reason": "x"}, key="award-1"
    )
    assert award.status_code == 422 and "24 小时" in award.get_json()["error"]["message"]
    # Another worker still may award (the limit is per giver and person).
    other = api(make_user(communities=[community], name="乙社工"))
    assert (
        other.post(
            "/awards", {"person_id": resident.id, "points": 10, "reason": "x"}, key="award-2"
        ).status_code
        == 201
    )


def test_scanning_in_and_straight_out_earns_nothing_by_itself(
    client, db, app_clock, gateway_token, make_activity, make_volunteer
):
    from tests.test_chat_sms import messages, text

    activity = make_activity(points=10, hours=2)
    person = make_volunteer(community=activity.community, phone="+8613800138000")
    code = scan_codes.short_code(activity, "in", app_clock())
    messages(text(client, "+8613800138000", f"签到 {code}"))
    app_clock.advance(hours=1, minutes=45)  # check-out opens near the end
    out = scan_codes.short_code(activity, "out", app_clock())
    # Checked in at the start, out 105 minutes later: past half of 120, paid.
    (reply,) = messages(text(client, "+8613800138000", f"签退 {out}"))
    assert "10 积分" in reply
    late = make_volunteer(community=activity.community, phone="+8613800138001")
    code = scan_codes.short_code(activity, "in", app_clock())
    messages(text(client, "+8613800138001", f"签到 {code}"))
    out = scan_codes.short_code(activity, "out", app_clock())
    (reply,) = messages(text(client, "+8613800138001", f"签退 {out}"))
    assert "等待工作人员审核" in reply
    assert ledger.balance(ledger.wallet_for(late)) == 0
    assert ledger.balance(ledger.wallet_for(person)) == 10
