"""API v1: awards, adjustments and the ledger — and the Idempotency-Key rules on them."""

import pytest
import sqlalchemy as sa

from app.models import Adjustment, DeedRule, IdempotencyRecord, LedgerTransaction
from app.points import deeds, ledger


@pytest.fixture
def desk(db, make_community, make_user, make_volunteer, api):
    """A community, its social worker's API caller and a resident with 10 points."""
    community = make_community("阳光社区")
    staff = make_user(communities=[community])
    resident = make_volunteer(community=community, name="王芳", points=10)
    return community, staff, api(staff), resident


def transactions(db) -> int:
    return db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id)))


def test_award_points_and_the_same_key_again_changes_nothing(db, desk):
    _community, _staff, staff_api, resident = desk
    body = {"person_id": resident.id, "points": 5, "reason": "帮助邻居搬家"}
    first = staff_api.post("/awards", body, key="award-1")
    assert first.status_code == 201, first.text
    assert first.get_json()["balance"] == 15
    assert first.get_json()["reason"] == "帮助邻居搬家"
    count = transactions(db)

    again = staff_api.post("/awards", body, key="award-1")
    assert (again.status_code, again.get_json()) == (201, first.get_json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert transactions(db) == count
    # The same body in another key order, other whitespace: the same request.
    same = staff_api.client.post(
        "/api/v1/awards",
        data=f'{{ "reason": "帮助邻居搬家", "points": 5,  "person_id": {resident.id} }}',
        headers={**staff_api._headers("award-1"), "Content-Type": "application/json"},
    )
    assert same.status_code == 201 and same.headers["Idempotent-Replayed"] == "true"

    other = staff_api.post("/awards", {**body, "points": 6}, key="award-1")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_conflict"
    assert "Idempotency-Key" in other.get_json()["error"]["fields"]
    assert ledger.balance(ledger.wallet_for(resident)) == 15


def test_a_post_without_an_idempotency_key_is_refused_and_does_nothing(db, desk):
    _community, _staff, staff_api, resident = desk
    count = transactions(db)
    response = staff_api.post(
        "/awards", {"person_id": resident.id, "points": 5, "reason": "x"}, key=False
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "Idempotency-Key" in error["fields"] and "Idempotency-Key" in error["message"]
    assert transactions(db) == count


def test_a_refusal_is_kept_under_its_key_and_malformed_requests_are_not(db, desk, english):
    _community, _staff, staff_api, resident = desk
    too_many = {"person_id": resident.id, "points": 500, "reason": "x"}
    refused = staff_api.post("/awards", too_many, key="big")
    assert refused.status_code == 422
    assert "adjustment" in refused.get_json()["error"]["message"]
    assert db.session.scalar(sa.select(IdempotencyRecord.status).filter_by(key="big")) == 422
    again = staff_api.post("/awards", too_many, key="big")
    assert again.get_json() == refused.get_json() and again.headers["Idempotent-Replayed"]

    # A body that does not load stores nothing: fixed, the same key may be used.
    bad = staff_api.post("/awards", {"person_id": resident.id, "points": "five"}, key="fix-me")
    assert bad.status_code == 400 and "points" in bad.get_json()["error"]["fields"]
    unknown = staff_api.post("/awards", {"person_id": resident.id, "points": 5, "why": "x"})
    assert unknown.status_code == 400 and "why" in unknown.get_json()["error"]["fields"]
    both = staff_api.post(
        "/awards", {"person_id": resident.id, "phone": resident.phone, "points": 5}
    )
    assert both.status_code == 400 and "phone" in both.get_json()["error"]["fields"]
    fixed = staff_api.post(
        "/awards", {"person_id": resident.id, "points": 5, "reason": "ok"}, key="fix-me"
    )
    assert fixed.status_code == 201


def test_an_error_is_in_the_callers_language(db, desk):
    _community, _staff, staff_api, resident = desk
    response = staff_api.client.post(
        "/api/v1/awards",
        json={"person_id": resident.id, "points": 5},
        headers={**staff_api._headers(), "Accept-Language": "zh-CN"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"]["reason"] == ["请填写原因。"]


def test_award_by_rule_and_phone_follows_the_rules_limits(db, desk):
    _community, _staff, staff_api, resident = desk
    # A rule of the default catalogue (street-wide), allowed once a day for this test.
    rule = db.session.scalar(sa.select(DeedRule).where(DeedRule.community_id.is_(None)).limit(1))
    rule.daily_limit = 1
    db.session.flush()
    body = {"phone": resident.phone, "rule_id": rule.id, "reason": "3号楼"}
    first = staff_api.post("/awards", body)
    assert first.status_code == 201, first.text
    assert first.get_json()["points"] == rule.points
    assert first.get_json()["rule_id"] == rule.id
    second = staff_api.post("/awards", body)
    assert second.status_code == 422
    assert second.get_json()["error"]["fields"] == {
        "rule_id": [second.get_json()["error"]["message"]]
    }


def test_awards_reach_only_the_staff_members_communities(db, desk, make_volunteer, make_user, api):
    _community, _staff, staff_api, _resident = desk
    outsider = make_volunteer()
    assert (
        staff_api.post(
            "/awards", {"person_id": outsider.id, "points": 1, "reason": "x"}
        ).status_code
        == 404
    )
    assert (
        staff_api.post("/awards", {"phone": outsider.phone, "points": 1, "reason": "x"}).status_code
        == 404
    )
    volunteer_api = api(outsider)
    response = volunteer_api.post("/awards", {"person_id": outsider.id, "points": 1, "reason": "x"})
    assert response.status_code == 403


def test_adjustments_above_the_threshold_wait_for_a_second_person(db, desk, make_user, now):
    community, _staff, staff_api, resident = desk
    small = staff_api.post(
        "/adjustments", {"person_id": resident.id, "points": -3, "reason": "多记了"}
    )
    assert small.status_code == 201 and small.get_json()["status"] == "posted"
    big = staff_api.post(
        "/adjustments", {"person_id": resident.id, "points": 300, "reason": "补记全年"}
    )
    assert big.status_code == 201 and big.get_json()["status"] == "pending"
    assert ledger.balance(ledger.wallet_for(resident)) == 7
    checker = make_user(communities=[community], name="赵社工")
    adjustment = db.session.get(Adjustment, big.get_json()["id"])
    deeds.decide_adjustment(
        adjustment, approve=True, checker=checker, community_ids={community.id}, note="", now=now
    )
    assert ledger.balance(ledger.wallet_for(resident)) == 307


def test_the_ledger_comes_in_keyset_pages(db, desk, api, now):
    _community, _staff, staff_api, resident = desk
    for n in range(4):
        assert (
            staff_api.post(
                "/awards", {"person_id": resident.id, "points": n + 1, "reason": f"第{n}次"}
            ).status_code
            == 201
        )
    seen, cursor, pages = [], None, 0
    while True:
        query = {"person_id": resident.id, "limit": 2}
        if cursor:
            query["cursor"] = cursor
        page = staff_api.get("/ledger", **query).get_json()
        pages += 1
        assert page["balance"] == 20
        seen += [line["amount"] for line in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [4, 3, 2, 1, 10]
    own = api(resident).get("/ledger", limit=1).get_json()
    assert own["person_id"] == resident.id and own["items"][0]["amount"] == 4
    assert api(resident).get("/ledger", person_id=resident.id + 999).status_code == 404
    tampered = staff_api.get("/ledger", person_id=resident.id, cursor="x7")
    assert tampered.status_code == 400 and "cursor" in tampered.get_json()["error"]["fields"]
    unnamed = staff_api.get("/ledger")
    assert unnamed.status_code == 400 and "person_id" in unnamed.get_json()["error"]["fields"]


def test_field_errors_speak_the_callers_language(db, desk):
    _community, _staff, staff_api, resident = desk
    # One schema instance serves every request: each caller hears it in their language.
    for language, said in (
        ("zh-CN", {"points": ["不是整数。"], "why": ["未知字段。"]}),
        ("en", {"points": ["Not a whole number."], "why": ["Unknown field."]}),
        ("zh-CN", {"points": ["不是整数。"], "why": ["未知字段。"]}),
    ):
        response = staff_api.client.post(
            "/api/v1/awards",
            json={"person_id": resident.id, "points": 5.5, "reason": "x", "why": 1},
            headers={**staff_api._headers(), "Accept-Language": language},
        )
        assert response.get_json()["error"]["fields"] == said, language
    english = staff_api.client.get(
        "/api/v1/ledger?person_id=1&limit=0",
        headers={**staff_api._headers(False), "Accept-Language": "en"},
    )
    assert english.get_json()["error"]["fields"] == {"limit": ["Must be from 1 to 100."]}


def test_kept_answers_are_forgotten_after_their_time_and_the_key_is_free_again(db, desk, app_clock):
    from app.api import idempotency

    _community, _staff, staff_api, resident = desk
    body = {"person_id": resident.id, "points": 2, "reason": "值班"}
    assert staff_api.post("/awards", body, key="daily-1").status_code == 201
    app_clock.advance(hours=47)
    assert idempotency.purge(app_clock.current) == 0
    assert staff_api.post("/awards", body, key="daily-1").headers["Idempotent-Replayed"]
    app_clock.advance(hours=2)  # 49 hours: past the 48 kept
    fresh = staff_api.post("/awards", {**body, "points": 3}, key="daily-1")
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
    assert ledger.balance(ledger.wallet_for(resident)) == 15
    app_clock.advance(hours=49)
    assert idempotency.purge(app_clock.current) == 1
