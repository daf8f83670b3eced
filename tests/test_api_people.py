"""API v1, first part: bearer tokens (hashed, revocable) and the people endpoints."""

import pytest
import sqlalchemy as sa

from app.models import ApiToken
from app.people import api_tokens


@pytest.fixture
def staff_token(db, now, make_user, make_community):
    community = make_community()
    staff = make_user(communities=[community])
    _row, token = api_tokens.create(staff, name="一网通办", actor=None, now=now)
    return community, token


def get(client, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers)


def test_no_or_bad_token_is_401_in_the_error_format(client, db):
    for token in (None, "nonsense", "linli_forged"):
        response = get(client, "/api/v1/people/1", token)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_tokens_are_kept_hashed_and_can_be_revoked(client, db, now, staff_token, make_volunteer):
    community, token = staff_token
    person = make_volunteer(community=community, points=12)
    stored = db.session.scalar(sa.select(ApiToken))
    assert token not in stored.token_hash and len(stored.token_hash) == 64
    assert get(client, f"/api/v1/people/{person.id}", token).get_json()["balance"] == 12
    api_tokens.revoke(stored.id, actor=None, now=now)
    assert get(client, f"/api/v1/people/{person.id}", token).status_code == 401


@pytest.mark.any_day
def test_people_by_phone_and_id_within_the_staff_members_communities(
    client, db, staff_token, make_volunteer
):
    community, token = staff_token
    person = make_volunteer(community=community, name="王芳", phone="+8613800138111", points=7)
    body = get(client, "/api/v1/people?phone=138 0013 8111", token).get_json()
    assert body == {
        "id": person.id,
        "name": "王芳",
        "phone": "+8613800138111",
        "community_id": community.id,
        "balance": 7,
        "earned_this_month": 7,
        "verified_minutes": 0,
        "star_level": 0,
    }
    outsider = make_volunteer()
    assert get(client, f"/api/v1/people/{outsider.id}", token).status_code == 404
    assert get(client, f"/api/v1/people?phone={outsider.phone}", token).status_code == 404
    bad = get(client, "/api/v1/people?phone=12345", token)
    assert bad.status_code == 400 and "phone" in bad.get_json()["error"]["fields"]
    unknown = get(client, "/api/v1/people?phone=13800138111&x=1", token)
    assert unknown.status_code == 400 and "x" in unknown.get_json()["error"]["fields"]


def test_a_volunteers_token_cannot_read_people(client, db, now, make_volunteer):
    volunteer = make_volunteer()
    _row, token = api_tokens.create(volunteer, name="app", actor=None, now=now)
    assert get(client, f"/api/v1/people/{volunteer.id}", token).status_code == 403


def test_create_token_on_the_command_line(app, db, make_user):
    make_user(login="lisg")
    db.session.commit()
    result = app.test_cli_runner().invoke(
        args=["create-token", "--user", "lisg", "--name", "区平台"]
    )
    assert result.exit_code == 0 and "linli_" in result.output


def test_a_tokens_last_use_is_noted_at_most_every_ten_minutes(client, db, staff_token, app_clock):
    _community, token = staff_token

    def last_used():
        return db.session.scalar(sa.select(ApiToken.last_used_at))

    assert last_used() is None
    get(client, "/api/v1/rankings", token).close()  # noted once the answer is out
    first = last_used()
    assert first == app_clock.current
    app_clock.advance(minutes=5)
    get(client, "/api/v1/rankings", token).close()
    assert last_used() == first
    app_clock.advance(minutes=6)
    get(client, "/api/v1/rankings", token).close()
    assert last_used() == app_clock.current
