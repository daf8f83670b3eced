"""The panel's residents pages: search, profile, create and edit, CSV import and export."""

import io

import pytest
import sqlalchemy as sa

from app.models import Person, Team, TeamMember
from app.people import org, people
from tests.conftest import csrf_from


@pytest.fixture
def desk(db, make_community, make_user, login):
    community = make_community("阳光社区")
    staff = make_user(communities=[community])
    login(staff)
    return community


def test_search_by_name_phone_and_building_and_see_a_profile(client, db, now, desk):
    community = desk
    home = org.place(community, "第1网格", "3号楼", "1单元", "101")
    elder = people.create_person(
        name="赵大爷",
        phone="13800138201",
        community=community,
        org_unit=home,
        tags=["党员"],
        now=now,
        actor=None,
        source="test",
    )
    people.create_person(
        name="钱阿姨",
        phone="13800138202",
        community=community,
        org_unit=org.place(community, "第1网格", "4号楼"),
        now=now,
        actor=None,
        source="test",
    )
    people.make_leader(elder, home.parent.parent, "building_leader")
    team = Team(community_id=community.id, name="小巷骑兵", duties="巡查")
    db.session.add(team)
    db.session.flush()
    db.session.add(TeamMember(team_id=team.id, person_id=elder.id, is_leader=True))
    db.session.flush()
    assert "赵大爷" in client.get("/panel/residents?q=赵大").text
    by_phone = client.get("/panel/residents?q=8201").text
    assert "赵大爷" in by_phone and "钱阿姨" not in by_phone
    building = home.parent.parent
    in_building = client.get(f"/panel/residents?building={building.id}").text
    assert "赵大爷" in in_building and "钱阿姨" not in in_building
    page = client.get(f"/panel/residents/{elder.id}").text
    assert "3号楼 楼栋长" in page and "小巷骑兵（队长）" in page and "党员" in page


def test_create_and_edit_a_resident(client, db, desk):
    community = desk
    page = client.get("/panel/residents/new")
    response = client.post(
        "/panel/residents/new",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "孙新",
            "phone": "１３８ ００１３ ８３０１",
            "community": community.id,
            "building": "5号楼",
            "room": "202",
            "tags": "党员、退休",
        },
    )
    assert response.status_code == 302
    person = db.session.scalar(sa.select(Person).filter_by(phone="+8613800138301"))
    assert person.tag_names == ["党员", "退休"] and person.org_unit.name == "202"
    page = client.get(f"/panel/residents/{person.id}/edit")
    assert 'value="5号楼"' in page.text
    client.post(
        f"/panel/residents/{person.id}/edit",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "孙新华",
            "phone": person.phone,
            "community": community.id,
            "building": "6号楼",
            "room": "101",
            "tags": "党员",
        },
    )
    assert person.name == "孙新华" and person.tag_names == ["党员"]
    # A phone already registered is named on the form.
    page = client.get("/panel/residents/new")
    response = client.post(
        "/panel/residents/new",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "重复",
            "phone": "13800138301",
            "community": community.id,
        },
    )
    assert response.status_code == 200 and "已经登记" in response.text


def test_import_200_residents_in_gb18030_with_a_bom_then_export(client, db, desk):
    community = desk
    lines = ["手机号,姓名,网格,楼栋,单元,房号,标签"]
    for i in range(200):
        digits = f"138{i:08d}"
        if i % 10 == 0:  # full-width digits, as typed on some phones
            digits = digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        lines.append(f"{digits},居民{i},第1网格,{i % 5 + 1}号楼,1单元,{100 + i},党员")
    lines.append("12345,坏号码,,,,,")
    data = b"\x84\x31\x95\x33" + "\r\n".join(lines).encode("gb18030")
    page = client.get("/panel/residents/import")
    preview = client.post(
        "/panel/residents/import",
        data={
            "csrf_token": csrf_from(page.text),
            "community": community.id,
            "file": (io.BytesIO(data), "居民.csv"),
        },
        content_type="multipart/form-data",
    )
    assert preview.status_code == 200
    assert ">200<" in preview.text and "202" in preview.text  # 200 new; line 202 is bad
    token = preview.text.split('name="token" value="')[1].split('"')[0]
    form = {"csrf_token": csrf_from(preview.text), "token": token, "community": community.id}
    refused = client.post("/panel/residents/import/confirm", data=form)
    assert refused.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 1  # the staff
    page = client.get("/panel/residents/import")
    preview = client.post(
        "/panel/residents/import",
        data={
            "csrf_token": csrf_from(page.text),
            "community": community.id,
            "file": (io.BytesIO(data), "居民.csv"),
        },
        content_type="multipart/form-data",
    )
    token = preview.text.split('name="token" value="')[1].split('"')[0]
    done = client.post(
        "/panel/residents/import/confirm",
        data={**form, "token": token, "skip_bad": "1"},
    )
    assert done.status_code == 302
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Person)
            .where(Person.community_id == community.id)
        )
        == 200
    )
    assert people.find_by_phone("13800000000").name == "居民0"
    # Confirming the same file again imports nothing twice.
    again = client.post(
        "/panel/residents/import/confirm", data={**form, "token": token, "skip_bad": "1"}
    )
    assert "已经导入过" in client.get(again.headers["Location"]).text
    export = client.get(f"/panel/residents.csv?community={community.id}").data.decode()
    assert export.startswith("\ufeff") and export.count("\n") == 201 and "居民199" in export


def test_another_communitys_residents_are_not_found(client, db, now, desk, make_volunteer):
    outsider = make_volunteer()
    assert client.get(f"/panel/residents/{outsider.id}").status_code == 404
    assert client.get(f"/panel/residents/{outsider.id}/edit").status_code == 404
    assert outsider.name not in client.get("/panel/residents").text
    assert client.get(f"/panel/residents?community={outsider.community_id}").status_code == 404
