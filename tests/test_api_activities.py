"""API v1 for activities: list and create, desk check-in, the screen's rotating code."""

from datetime import timedelta

import pytest

from app.activities import scan_codes


@pytest.fixture
def hall(db, make_community, make_user, make_volunteer, api):
    community = make_community("阳光社区")
    staff = make_user(communities=[community])
    resident = make_volunteer(community=community, name="王芳")
    return community, api(staff), resident


def test_create_then_list_activities_in_keyset_pages(db, hall, api, now):
    community, staff_api, resident = hall
    body = {
        "community_id": community.id,
        "title": "敬老院陪伴",
        "starts_at": "2026-11-20T09:00:00+08:00",
        "ends_at": "2026-11-20T11:00:00+08:00",
        "capacity": 10,
        "points": 20,
        "category": "elderly_care",
    }
    made = staff_api.post("/activities", body)
    assert made.status_code == 201, made.text
    activity = made.get_json()
    assert activity["starts_at"].startswith("2026-11-20T01:00:00")
    assert (activity["confirmed"], activity["capacity"], activity["cancelled"]) == (0, 10, False)
    for n in range(2):
        staff_api.post("/activities", {**body, "title": f"活动{n}"})
    first = staff_api.get("/activities", limit=2).get_json()
    second = staff_api.get("/activities", limit=2, cursor=first["next_cursor"]).get_json()
    assert [a["title"] for a in first["items"] + second["items"]] == [
        "活动1",
        "活动0",
        "敬老院陪伴",
    ]
    assert second["next_cursor"] is None
    # A resident sees their own community's activities.
    assert len(api(resident).get("/activities").get_json()["items"]) == 3
    # Times must say their zone, and end after they start.
    naive = staff_api.post("/activities", {**body, "starts_at": "2026-11-20T09:00:00"})
    assert naive.status_code == 400 and "starts_at" in naive.get_json()["error"]["fields"]
    backwards = staff_api.post("/activities", {**body, "ends_at": "2026-11-20T08:00:00+08:00"})
    assert backwards.status_code == 400 and "ends_at" in backwards.get_json()["error"]["fields"]


def test_staff_check_a_person_in_at_the_desk_once(
    db, hall, make_activity, make_volunteer, app_clock
):
    community, staff_api, resident = hall
    activity = make_activity(community=community, signup_required=True)
    first = staff_api.post(f"/activities/{activity.id}/attendances", {"phone": resident.phone})
    assert first.status_code == 201, first.text
    assert first.get_json()["method"] == "staff" and first.get_json()["already"] is False
    again = staff_api.post(f"/activities/{activity.id}/attendances", {"person_id": resident.id})
    assert again.status_code == 200 and again.get_json()["already"] is True
    assert again.get_json()["id"] == first.get_json()["id"]
    outsider = make_volunteer()
    response = staff_api.post(f"/activities/{activity.id}/attendances", {"person_id": outsider.id})
    assert response.status_code == 404


def test_the_checkin_code_is_the_screens_and_rotates(db, hall, make_activity, app_clock, now):
    community, staff_api, _resident = hall
    activity = make_activity(community=community)
    code = staff_api.get(f"/activities/{activity.id}/checkin-code").get_json()
    assert code["code"] == scan_codes.short_code(activity, "in", now)
    assert scan_codes.read_scan_token(code["token"], "in", now).id == activity.id
    assert code["url"].endswith(code["token"]) or code["token"] in code["url"]
    assert 30 < code["valid_for_seconds"] <= 60
    app_clock.advance(seconds=scan_codes.ROTATION_SECONDS)
    later = staff_api.get(f"/activities/{activity.id}/checkin-code", kind="out").get_json()
    assert later["kind"] == "out" and later["token"] != code["token"]


def test_another_communitys_activity_is_not_found(db, hall, make_activity, make_community):
    _community, staff_api, _resident = hall
    elsewhere = make_activity(community=make_community(), starts_in=timedelta(hours=1))
    assert staff_api.get(f"/activities/{elsewhere.id}/checkin-code").status_code == 404
    assert staff_api.get("/activities", community_id=elsewhere.community_id).status_code == 404
