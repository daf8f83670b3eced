"""API tokens in the panel: made for people a worker looks after, shown once, revoked."""

import re

import sqlalchemy as sa

from app.models import ApiToken, AuditEvent
from app.people import api_tokens
from tests.conftest import csrf_from

TOKEN = re.compile(r"linli_[A-Za-z0-9_-]{20,}")


def test_make_a_token_for_a_resident_see_it_once_and_revoke_it(
    client, db, login, make_community, make_user, make_volunteer, now
):
    community = make_community("阳光社区")
    staff = make_user(communities=[community], name="李社工")
    resident = make_volunteer(community=community, name="王芳")
    login(staff)
    page = client.get("/panel/api-tokens")
    made = client.post(
        "/panel/api-tokens",
        data={"who": resident.phone, "name": "小程序", "csrf_token": csrf_from(page.text)},
    )
    assert made.status_code == 200
    token = TOKEN.search(made.text).group(0)
    row = db.session.scalar(sa.select(ApiToken))
    assert row.person_id == resident.id and row.name == "小程序"
    # The token works for the API, and is never shown again.
    assert (
        client.get("/api/v1/ledger", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    listing = client.get("/panel/api-tokens").text
    assert token not in listing and "小程序" in listing and "王芳" in listing

    revoked = client.post(
        f"/panel/api-tokens/{row.id}/revoke", data={"csrf_token": csrf_from(listing)}
    )
    assert revoked.status_code == 302
    assert (
        client.get("/api/v1/ledger", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.action.like("api_token.%"))
    ).all()
    assert sorted(actions) == ["api_token.create", "api_token.revoke"]


def test_a_worker_cannot_make_or_revoke_tokens_of_people_they_do_not_look_after(
    client, db, login, make_community, make_user, make_volunteer, now
):
    here, elsewhere = make_community("阳光社区"), make_community("和平社区")
    staff = make_user(communities=[here], name="李社工")
    colleague = make_user(communities=[here], name="赵社工", login="zhaosg")
    outsider = make_volunteer(community=elsewhere)
    row, _token = api_tokens.create(outsider, name="别人的", actor=None, now=now)
    login(staff)
    page = client.get("/panel/api-tokens")
    assert "别人的" not in page.text
    for who in (outsider.phone, "zhaosg"):
        refused = client.post(
            "/panel/api-tokens",
            data={"who": who, "name": "x", "csrf_token": csrf_from(page.text)},
        )
        assert refused.status_code == 400 and not TOKEN.search(refused.text)
    gone = client.post(
        f"/panel/api-tokens/{row.id}/revoke", data={"csrf_token": csrf_from(page.text)}
    )
    assert gone.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 1
    assert colleague is not None


def test_the_administrator_sees_and_makes_tokens_for_residents_of_any_community(
    client, db, login, make_community, make_user, make_volunteer, now
):
    # The administrator's scope may be "everywhere" (None): the page must not test
    # membership in it (the type checker pointed at that line).
    resident = make_volunteer(community=make_community("东社区"), name="王芳")
    api_tokens.create(resident, name="小程序", actor=None, now=now)
    login(make_user("admin", name="街道管理员"))
    page = client.get("/panel/api-tokens")
    assert page.status_code == 200 and "王芳" in page.text
    made = client.post(
        "/panel/api-tokens",
        data={"who": resident.phone, "name": "第二个", "csrf_token": csrf_from(page.text)},
    )
    assert made.status_code == 200 and TOKEN.search(made.text)
