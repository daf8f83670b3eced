"""The panel's organisation pages: community settings, the tree, the 三长, households, teams."""

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, LeaderRole, TeamMember
from app.people import org, people
from tests.conftest import csrf_from


@pytest.fixture
def desk(db, make_community, make_user, login):
    community = make_community("阳光社区")
    login(make_user(communities=[community]))
    return community


def test_community_time_zone_and_budget(client, db, desk):
    page = client.get("/panel/org")
    token = csrf_from(page.text)
    client.post(
        f"/panel/org/{desk.id}/settings",
        data={"csrf_token": token, "timezone": "Asia/Urumqi", "monthly_budget": ""},
    )
    assert (desk.timezone, desk.monthly_budget) == ("Asia/Urumqi", None)
    response = client.post(
        f"/panel/org/{desk.id}/settings",
        data={"csrf_token": token, "timezone": "Mars/Base", "monthly_budget": ""},
    )
    assert "不是有效的时区" in client.get(response.headers["Location"]).text
    assert desk.timezone == "Asia/Urumqi"
    client.post(
        f"/panel/org/{desk.id}/settings",
        data={"csrf_token": token, "timezone": "", "monthly_budget": "-3"},
    )
    assert desk.monthly_budget is None
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .filter_by(action="community.settings")
        )
        == 1
    )


def test_appoint_and_remove_a_building_leader_and_move_a_household(client, db, now, desk):
    home = org.place(desk, "第1网格", "3号楼", "1单元", "101")
    person = people.create_person(
        name="周楼长",
        phone="13800138401",
        community=desk,
        org_unit=home,
        now=now,
        actor=None,
        source="test",
    )
    building = home.parent.parent
    page = client.get(f"/panel/org/node/{building.id}")
    assert "任命为楼栋长" in page.text
    client.post(
        f"/panel/org/node/{building.id}/leaders",
        data={"csrf_token": csrf_from(page.text), "phone": "138 0013 8401"},
    )
    held = db.session.scalar(sa.select(LeaderRole))
    assert (held.person_id, held.role) == (person.id, "building_leader")
    page = client.get(f"/panel/org/node/{building.id}")
    assert "周楼长" in page.text
    client.post(f"/panel/org/leaders/{held.id}/remove", data={"csrf_token": csrf_from(page.text)})
    assert db.session.scalar(sa.select(LeaderRole)) is None
    other_unit = org.place(desk, "第1网格", "4号楼", "2单元")
    page = client.get(f"/panel/org/node/{home.id}")
    client.post(
        f"/panel/org/node/{home.id}/move",
        data={"csrf_token": csrf_from(page.text), "to": other_unit.id},
    )
    assert home.parent_id == other_unit.id and home.path.startswith(other_unit.path)
    assert person in people.residents(None, node=other_unit.parent)


def test_teams_members_and_leader(client, db, now, desk, make_volunteer):
    a = make_volunteer(community=desk, name="甲", phone="13800138501")
    b = make_volunteer(community=desk, name="乙", phone="13800138502")
    page = client.get("/panel/teams")
    response = client.post(
        "/panel/teams",
        data={
            "csrf_token": csrf_from(page.text),
            "community": desk.id,
            "name": "小巷医生",
            "duties": "每周测血压",
        },
    )
    team_url = response.headers["Location"]
    team_id = int(team_url.rstrip("/").rsplit("/", 1)[1])
    page = client.get(team_url)
    token = csrf_from(page.text)
    for phone in ("13800138501", "13800138502"):
        client.post(
            f"{team_url}/members", data={"csrf_token": token, "action": "add", "phone": phone}
        )
    client.post(f"{team_url}/members", data={"csrf_token": token, "action": "lead", "person": b.id})
    leaders = db.session.scalars(
        sa.select(TeamMember.person_id).filter_by(team_id=team_id, is_leader=True)
    ).all()
    assert leaders == [b.id]
    client.post(f"{team_url}/members", data={"csrf_token": token, "action": "lead", "person": a.id})
    leaders = db.session.scalars(
        sa.select(TeamMember.person_id).filter_by(team_id=team_id, is_leader=True)
    ).all()
    assert leaders == [a.id]
    client.post(
        f"{team_url}/members", data={"csrf_token": token, "action": "remove", "person": b.id}
    )
    assert "乙" not in client.get(team_url).text
    # A second team with the same name in the community is refused.
    response = client.post(
        "/panel/teams",
        data={"csrf_token": token, "community": desk.id, "name": "小巷医生", "duties": ""},
    )
    assert "已被使用" in client.get(response.headers["Location"]).text


def test_other_communities_are_not_found(client, db, now, desk, make_community, make_user):
    from app.people import teams

    theirs = make_community()
    node = org.place(theirs, "第1网格", "1号楼")
    team = teams.create_team(theirs, name="别队", duties="", actor=make_user(kind="admin"), now=now)
    for path in (
        f"/panel/org/node/{theirs.id}",
        f"/panel/org/node/{node.id}",
        f"/panel/teams/{team.id}",
    ):
        assert client.get(path).status_code == 404, path
    assert "别队" not in client.get("/panel/teams").text
