"""Needs and problems residents raise (issue 21): by text or on the phone, triaged up the
三长 chain with time limits, taken by one volunteer, confirmed by the resident (`1`), paid
once, rated; disputes, withdrawals, merges and closures told to the resident."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.errors import BusinessRuleError, NotFound, NotPermitted
from app.models import Need, NeedEvent, OutboxMessage
from app.people import org, people
from app.points import ledger, needs
from tests.conftest import run_threads
from tests.test_chat_sms import messages, text


@pytest.fixture
def street(db, now, make_community, make_volunteer, make_user):
    """A community with a grid → building → unit → household, its 三长, an elder at home, a
    volunteer in the same grid, a worker and a repairs kind worth 20 points."""
    community = make_community(budget=1000)
    home = org.place(community, "第一网格", "3号楼", "2单元", "502")
    unit, building, grid = home.parent, home.parent.parent, home.parent.parent.parent
    elder = make_volunteer(community=community, name="王秀英", phone="+8613800138000")
    elder.org_unit_id = home.id
    volunteer_home = org.place(community, "第一网格", "5号楼", "1单元", "101")
    volunteer = make_volunteer(community=community, name="李小哥", phone="+8613800138001")
    volunteer.org_unit_id = volunteer_home.id
    leaders = {}
    for role, node, name, phone in (
        ("unit_leader", unit, "赵单元长", "+8613800138011"),
        ("building_leader", building, "钱楼栋长", "+8613800138012"),
        ("grid_leader", grid, "孙网格长", "+8613800138013"),
    ):
        leader = make_volunteer(community=community, name=name, phone=phone)
        leader.org_unit_id = unit.id
        people.make_leader(leader, node, role)
        leaders[role] = leader
    staff = make_user(communities=[community], name="李社工")
    kind = needs.create_kind(
        None,
        needs.KindFields(name="维修", points=20, step_hours=4, keywords="水管 漏水 灯"),
        actor=staff,
        now=now,
    )
    db.session.flush()
    db.session.expire_all()
    return {
        "community": community,
        "home": home,
        "elder": elder,
        "volunteer": volunteer,
        "staff": staff,
        "kind": kind,
        **leaders,
    }


def notices(db, person, kind="need") -> list[str]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage.body)
            .filter_by(person_id=person.id, kind=kind)
            .order_by(OutboxMessage.id)
        )
    )


def test_the_whole_loop_by_text_escalates_pays_once_and_rates(
    client, db, now, app_clock, gateway_token, street
):
    elder, volunteer = street["elder"], street["volunteer"]
    (reply,) = messages(text(client, elder.phone, "求助 水管漏水"))
    need = db.session.scalars(sa.select(Need)).one()
    assert f"#{need.id}" in reply and "单元长" in reply and "撤销" in reply
    assert (need.kind_id, need.step, need.grid_id) == (
        street["kind"].id,
        "unit_leader",
        street["home"].parent.parent.parent.id,
    )
    assert "接单" in notices(db, street["unit_leader"])[0]
    assert notices(db, street["building_leader"]) == []

    # Four hours later nobody has taken it: it climbs to the building leader, with a notice.
    app_clock.advance(hours=4, minutes=1)
    assert needs.escalate_due(app_clock()) == 1
    assert needs.escalate_due(app_clock()) == 0  # once
    db.session.refresh(need)
    assert need.step == "building_leader"
    assert "没有人及时" in notices(db, street["building_leader"])[0]

    # The volunteer finds it in the grid's list and takes it by text.
    (listing,) = messages(text(client, volunteer.phone, "需求"))
    assert f"#{need.id}" in listing and "水管漏水" in listing
    (taken,) = messages(text(client, volunteer.phone, f"接单 {need.id}"))
    assert "完成" in taken
    assert "李小哥" in notices(db, elder)[-1]
    (again,) = messages(text(client, street["unit_leader"].phone, f"接单 {need.id}"))
    assert "已经有人" in again

    (finished,) = messages(text(client, volunteer.phone, f"完成 {need.id} 换了阀门"))
    assert "确认" in finished
    assert "回复1" in notices(db, elder)[-1]

    (confirmed,) = messages(text(client, elder.phone, "1"))
    assert "评分" in confirmed
    db.session.refresh(need)
    assert need.status == "confirmed" and need.transaction_id is not None
    assert ledger.balance(ledger.wallet_for(volunteer)) == 20
    (second,) = messages(text(client, elder.phone, "1"))
    assert "没有" in second
    assert ledger.balance(ledger.wallet_for(volunteer)) == 20

    (rated,) = messages(text(client, elder.phone, "评分 5 很及时"))
    assert "谢谢" in rated
    assert needs.ratings_of(volunteer) == needs.Ratings(1, 5.0, 1)
    assert "★★★★★" in notices(db, volunteer)[-1]
    (twice,) = messages(text(client, elder.phone, "评分 1"))
    assert "没有" in twice
    assert [e.action for e in need.events] == [
        "posted", "overdue", "taken", "done", "confirmed", "paid", "rated",
    ]  # fmt: skip
    assert ledger.check() == []


def test_help_in_english_with_words_asks_for_help_and_alone_lists_commands(
    client, db, gateway_token, street
):
    elder = street["elder"]
    (commands_list,) = messages(text(client, elder.phone, "HELP"))
    assert "求助" in commands_list
    (reply,) = messages(text(client, elder.phone, "HELP the light in the hall is broken"))
    need = db.session.scalars(sa.select(Need)).one()
    assert f"#{need.id}" in reply and "unit leader" in reply
    assert need.kind.name == "维修"  # "light" is no keyword, but the catch-all is the one kind


def test_nobody_may_take_their_own_or_their_households_need(db, now, street, make_volunteer):
    elder = street["elder"]
    need = needs.post(elder, "帮忙取药", kind=street["kind"], now=now, source="web")
    spouse = make_volunteer(community=street["community"], name="王大爷")
    spouse.org_unit_id = street["home"].id
    db.session.flush()
    db.session.expire_all()
    for person in (elder, spouse):
        with pytest.raises(BusinessRuleError):
            needs.take(need, person, now=now, source="web")
    outsider = make_volunteer(name="外社区")
    with pytest.raises(BusinessRuleError, match="社区"):
        needs.take(need, outsider, now=now, source="web")
    with pytest.raises(NotFound):
        needs.get(need.id, outsider)  # another community's request is not shown
    # A 三长 who posts a request for a resident cannot be paid for doing it either.
    leader = street["unit_leader"]
    posted = needs.post(
        elder, "代老人报修", kind=street["kind"], now=now, source="web", posted_by=leader
    )
    with pytest.raises(BusinessRuleError):
        needs.take(posted, leader, now=now, source="web")
    # Nobody else may post for the elder.
    with pytest.raises(NotPermitted):
        needs.post(elder, "冒名", kind=street["kind"], now=now, source="web", posted_by=outsider)


def test_only_the_resident_confirms_and_staff_only_after_the_days_allowed(
    db, now, app_clock, street
):
    elder, volunteer, staff = street["elder"], street["volunteer"], street["staff"]
    need = needs.post(elder, "帮忙搬家具", kind=street["kind"], now=now, source="web")
    needs.take(need, volunteer, now=now, source="web")
    with pytest.raises(NotPermitted):
        needs.done(need, street["unit_leader"], now=now, source="web")
    needs.done(need, volunteer, now=now, source="web")
    with pytest.raises(NotPermitted):
        needs.confirm(need, volunteer, now=now, source="web")
    with pytest.raises(BusinessRuleError, match="7"):
        needs.confirm(need, staff, now=now, source="panel")
    later = app_clock.advance(days=7)
    needs.confirm(need, staff, now=later, source="panel")
    assert need.confirmed_by_id == staff.id
    assert ledger.balance(ledger.wallet_for(volunteer)) == 20


def test_a_dispute_goes_to_staff_who_open_it_again_or_confirm_it(db, now, street):
    elder, volunteer, staff = street["elder"], street["volunteer"], street["staff"]
    need = needs.post(elder, "楼道灯不亮", kind=street["kind"], now=now, source="web")
    needs.take(need, volunteer, now=now, source="web")
    needs.done(need, volunteer, now=now, source="web")
    needs.dispute(need, elder, reason="还是不亮", now=now, source="text")
    assert need.status == "disputed"
    assert "还是不亮" in notices(db, volunteer)[-1]
    assert "还是不亮" in notices(db, staff)[-1]
    needs.reopen(need, actor=staff, now=now)
    assert (need.status, need.taker_id, need.step) == ("open", None, "community")
    assert "不再" in notices(db, volunteer)[-1]
    needs.take(need, volunteer, now=now, source="web")
    needs.done(need, volunteer, now=now, source="web")
    needs.dispute(need, elder, reason="只亮了一半", now=now, source="web")
    needs.confirm(need, staff, now=now, source="panel")  # staff judge it done
    assert ledger.balance(ledger.wallet_for(volunteer)) == 20


def test_the_budget_leaves_it_unpaid_until_an_administrator_pays_it(db, now, street, make_user):
    community, elder, volunteer = street["community"], street["elder"], street["volunteer"]
    community.monthly_budget = 10
    db.session.flush()
    need = needs.post(elder, "帮忙修灯", kind=street["kind"], now=now, source="web")
    needs.take(need, volunteer, now=now, source="web")
    needs.done(need, volunteer, now=now, source="web")
    needs.confirm(need, elder, now=now, source="web")
    assert need.status == "confirmed" and need.transaction_id is None
    assert "预算" in need.unpaid_reason
    assert needs.waiting_for_staff({community.id}, now) == 1
    admin = make_user(kind="admin", communities=[])
    needs.pay(need, actor=admin, now=now, may_exceed_budget=True)
    needs.pay(need, actor=admin, now=now, may_exceed_budget=True)
    assert need.transaction_id is not None and need.unpaid_reason == ""
    assert ledger.balance(ledger.wallet_for(volunteer)) == 20
    assert ledger.check() == []


def test_the_kinds_monthly_limit_per_taker_holds(db, now, street, make_volunteer):
    kind, volunteer = street["kind"], street["volunteer"]
    kind.monthly_limit = 1
    paid = []
    for n in range(2):
        resident = make_volunteer(community=street["community"], name=f"居民{n}")
        need = needs.post(resident, f"帮忙{n}", kind=kind, now=now, source="web")
        needs.take(need, volunteer, now=now, source="web")
        needs.done(need, volunteer, now=now, source="web")
        needs.confirm(need, resident, now=now, source="web")
        paid.append(need.transaction_id is not None)
    assert paid == [True, False]
    assert ledger.balance(ledger.wallet_for(volunteer)) == 20


def test_assigning_withdrawing_merging_and_closing_tell_the_people_concerned(
    db, now, street, make_volunteer
):
    elder, volunteer, staff = street["elder"], street["volunteer"], street["staff"]
    leader = street["unit_leader"]
    first = needs.post(elder, "门口垃圾没人清", kind=street["kind"], now=now, source="web")
    # The unit leader it is with assigns it; the building leader (not yet his turn) may not.
    with pytest.raises(NotPermitted):
        needs.assign(first, actor=street["building_leader"], person=volunteer, now=now)
    needs.assign(first, actor=leader, person=volunteer, now=now)
    assert (first.status, first.taker_id) == ("taken", volunteer.id)
    assert "赵单元长" in notices(db, volunteer)[-1]
    needs.release(first, volunteer, now=now, source="text")
    assert first.status == "open" and first.step == "unit_leader"

    neighbour = make_volunteer(community=street["community"], name="邻居")
    second = needs.post(neighbour, "门口垃圾堆着", kind=street["kind"], now=now, source="web")
    needs.merge(second, first, actor=staff, now=now)
    assert second.status == "merged" and f"#{first.id}" in notices(db, neighbour)[-1]

    needs.close(first, actor=staff, reason="已转物业处理", now=now)
    assert "已转物业处理" in notices(db, elder)[-1]
    with pytest.raises(BusinessRuleError):
        needs.take(first, volunteer, now=now, source="web")

    mine = needs.post(elder, "想要一张轮椅", kind=street["kind"], now=now, source="web")
    needs.close(mine, actor=elder, reason="", now=now)
    assert mine.status == "closed"
    assert [e.action for e in mine.events][-1] == "withdrawn"


def test_a_resident_may_not_flood_the_leaders(db, now, app, street):
    for n in range(app.config["NEEDS_OPEN_PER_RESIDENT"]):
        needs.post(street["elder"], f"第{n}件", kind=street["kind"], now=now, source="web")
    with pytest.raises(BusinessRuleError, match="还没有解决"):
        needs.post(street["elder"], "再一件", kind=street["kind"], now=now, source="web")


def test_the_grid_board_counts_and_masks(db, now, street):
    elder, volunteer = street["elder"], street["volunteer"]
    need = needs.post(elder, "3号楼502水管漏水", kind=street["kind"], now=now, source="web")
    needs.take(need, volunteer, now=now, source="web")
    needs.done(need, volunteer, now=now + timedelta(hours=2), source="web")
    needs.confirm(need, elder, now=now + timedelta(hours=3), source="web")
    needs.rate(need, elder, 4, now=now + timedelta(hours=3))
    needs.post(elder, "另一件", kind=street["kind"], now=now, source="web")
    (line,) = needs.board(street["community"], now.strftime("%Y-%m"))
    assert (line.grid.name, line.raised, line.solved, line.open) == ("第一网格", 2, 1, 1)
    assert (line.median_hours, line.average_rating) == (3.0, 4.0)


@pytest.mark.committing
def test_two_volunteers_taking_one_need_at_once_one_wins(committed_app, now):
    from app.core.database import commit_unit_of_work
    from app.core.extensions import db

    with committed_app.app_context():
        community = org.create_community("并发社区", street=org.get_or_create_street("街道"))
        elder = people.create_person(
            name="王秀英", phone="+8613800139001", community=community, now=now, actor=None,
            source="test",
        )  # fmt: skip
        takers = [
            people.create_person(
                name=f"志愿者{n}",
                phone=f"+8613900139{n:03d}",
                community=community,
                now=now,
                actor=None,
                source="test",
            )  # fmt: skip
            for n in range(2)
        ]
        staff = people.create_user(
            kind="admin", name="管理员", phone="+8613900139999", password="correct horse",
            communities=[], now=now, actor=None, source="test",
        )  # fmt: skip
        kind = needs.create_kind(
            None, needs.KindFields(name="帮忙", points=5, step_hours=24), actor=staff, now=now
        )
        need = needs.post(elder, "帮忙拿快递", kind=kind, now=now, source="web")
        ids = (need.id, [t.id for t in takers])
        commit_unit_of_work()
        db.session.remove()

    def take(n: int):
        with committed_app.app_context():
            taker = people.get(ids[1][n])
            try:
                needs.take(needs.get(ids[0], taker), taker, now=now, source="web")
                commit_unit_of_work()
                return "took"
            except BusinessRuleError:
                db.session.rollback()
                return "already"
            finally:
                db.session.remove()

    assert sorted(run_threads(2, take)) == ["already", "took"]
    with committed_app.app_context():
        need = db.session.get(Need, ids[0])
        assert need.status == "taken" and need.taker_id in ids[1]
        taken = db.session.scalars(sa.select(NeedEvent).filter_by(need_id=need.id, action="taken"))
        assert len(taken.all()) == 1


def test_the_api_lists_creates_takes_finishes_confirms_and_rates(db, now, api, street):
    elder, volunteer = street["elder"], street["volunteer"]
    as_elder, as_volunteer = api(elder), api(volunteer)
    kinds = as_elder.get("/need-kinds").json["items"]
    assert [k["name"] for k in kinds] == ["维修"]
    made = as_elder.post("/needs", {"text": "The hall light is out", "kind_id": kinds[0]["id"]})
    assert made.status_code == 201, made.json
    need = made.json
    assert (need["status"], need["step"], need["mine"]) == ("open", "unit_leader", True)
    assert need["place"].endswith("502")  # the resident reads their own address
    listed = as_volunteer.get("/needs").json["items"]
    assert [n["id"] for n in listed] == [need["id"]]
    assert "502" not in listed[0]["place"] and "3号楼" in listed[0]["place"]
    key = "take-once"
    taken = as_volunteer.post(f"/needs/{need['id']}/take", key=key)
    assert taken.status_code == 200 and taken.json["taken_by_me"]
    assert as_volunteer.post(f"/needs/{need['id']}/take", key=key).json == taken.json  # replay
    late = api(street["unit_leader"]).post(f"/needs/{need['id']}/take")
    assert late.status_code == 422 and "已经有人接了" in late.json["error"]["message"]
    done = as_volunteer.post(f"/needs/{need['id']}/done", {"note": "new bulb"})
    assert done.json["status"] == "done"
    assert as_volunteer.post(f"/needs/{need['id']}/confirm").status_code == 403
    confirmed = as_elder.post(f"/needs/{need['id']}/confirm")
    assert confirmed.json["status"] == "confirmed" and confirmed.json["paid"]
    again = as_elder.post(f"/needs/{need['id']}/confirm")
    assert again.status_code == 422
    assert ledger.balance(ledger.wallet_for(volunteer)) == 20
    bad = as_elder.post(f"/needs/{need['id']}/rate", {"rating": 6})
    assert bad.status_code == 400 and "rating" in bad.json["error"]["fields"]
    rated = as_elder.post(f"/needs/{need['id']}/rate", {"rating": 4, "comment": "quick"})
    assert rated.json["rating"] == 4
    mine = as_volunteer.get("/needs", view="taken").json["items"]
    assert [(n["id"], n["rating"]) for n in mine] == [(need["id"], 4)]
    outsider = api(street["staff"]).get(f"/needs/{need['id']}")
    assert outsider.status_code == 200  # the community's worker
    stranger = api(make_stranger(db, now)).get(f"/needs/{need['id']}")
    assert stranger.status_code == 404


def make_stranger(db, now):
    community = org.create_community("别的社区", street=org.get_or_create_street("测试街道"))
    return people.create_person(
        name="外人", phone="+8613700000999", community=community, now=now, actor=None,
        source="test",
    )  # fmt: skip


def test_staff_triage_in_the_panel(client, db, now, street, login):
    from tests.conftest import csrf_from

    elder, volunteer, staff = street["elder"], street["volunteer"], street["staff"]
    login(staff)
    page = client.get("/panel/needs")
    token = csrf_from(page.text)
    posted = client.post(
        "/panel/needs",
        data={
            "csrf_token": token,
            "phone": elder.phone,
            "kind": street["kind"].id,
            "text": "老人电话报修：马桶堵了",
        },
    )
    assert posted.status_code == 302
    need = db.session.scalars(sa.select(Need)).one()
    assert (need.resident_id, need.posted_by_id, need.source) == (elder.id, staff.id, "panel")
    detail = client.get(f"/panel/needs/{need.id}")
    assert "赵单元长" in detail.text  # the chain it will climb
    assign = client.post(
        f"/panel/needs/{need.id}/assign", data={"csrf_token": token, "phone": volunteer.phone}
    )
    assert assign.status_code == 302
    db.session.refresh(need)
    assert (need.status, need.taker_id) == ("taken", volunteer.id)
    assert (
        client.post(f"/panel/needs/{need.id}/assign", data={"phone": volunteer.phone}).status_code
        == 400
    )
    home = client.get("/panel/")
    assert "等工作人员处理的求助" in home.text
    # Another community's worker finds nothing here.
    other = client.get(f"/panel/needs/{need.id + 1000}")
    assert other.status_code == 404
    # A second request goes to a partner unit straight from the panel; then to a department.
    second = needs.post(elder, "楼下商铺油烟太大", kind=street["kind"], now=now, source="text")
    client.post(
        f"/panel/needs/{second.id}/whistle", data={"csrf_token": token, "department": "区环保局"}
    )
    db.session.refresh(second)
    assert (second.status, second.department) == ("taken", "区环保局")
    answered = client.post(
        f"/panel/needs/{second.id}/answered", data={"csrf_token": token, "note": "已责令整改"}
    )
    assert answered.status_code == 302
    db.session.refresh(second)
    assert second.status == "done" and second.done_note == "已责令整改"


def test_a_teams_kind_goes_to_the_team_first_then_up_the_chain_to_anyone(
    db, now, app_clock, street, make_volunteer
):
    from app.models import Team, TeamMember

    community, volunteer = street["community"], street["volunteer"]
    team = Team(community_id=community.id, name="小巷医生", duties="")
    db.session.add(team)
    db.session.flush()
    doctor = make_volunteer(community=community, name="刘医生")
    db.session.add(TeamMember(team_id=team.id, person_id=doctor.id, is_leader=True))
    kind = needs.create_kind(
        community,
        needs.KindFields(name="看病", points=10, step_hours=2, team_id=team.id),
        actor=street["staff"],
        now=now,
    )
    need = needs.post(street["elder"], "头晕想量血压", kind=kind, now=now, source="web")
    assert (need.step, need.team_id) == ("team", team.id)
    assert "接单" in notices(db, doctor)[-1]
    assert notices(db, street["unit_leader"]) == []
    with pytest.raises(BusinessRuleError, match="小巷医生"):
        needs.take(need, volunteer, now=now, source="web")
    later = app_clock.advance(hours=2, minutes=1)
    assert needs.escalate_due(later) == 1
    db.session.refresh(need)
    assert (need.step, need.team_id) == ("unit_leader", None)
    needs.take(need, volunteer, now=later, source="web")  # anyone of the place now


def test_the_statement_freezes_the_months_requests_per_grid(db, now, street):
    from app.points import statements

    elder, volunteer, staff = street["elder"], street["volunteer"], street["staff"]
    need = needs.post(elder, "帮忙换灯泡", kind=street["kind"], now=now, source="web")
    month = now.strftime("%Y-%m")
    statement = statements.generate(street["community"], month, actor=staff, now=now)
    statements.publish(statement, actor=staff, now=now)
    assert statement.need_lines == [
        {"grid": "第一网格", "raised": 1, "solved": 0, "open": 1, "median_hours": None,
         "average_rating": None},
    ]  # fmt: skip
    needs.take(need, volunteer, now=now, source="web")
    needs.done(need, volunteer, now=now, source="web")
    needs.confirm(need, elder, now=now, source="web")
    db.session.refresh(statement)
    assert statement.need_lines[0]["solved"] == 0 and statements.intact(statement)
    statement.need_lines = [{**statement.need_lines[0], "solved": 1}]
    assert not statements.intact(statement)  # the figures are under the published hash


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (20, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def test_a_requests_photos_are_for_those_who_may_see_it_and_four_are_refused(
    client, db, now, street, make_volunteer
):
    import io

    from tests.conftest import csrf_from
    from tests.test_volunteer_flow import sign_in_by_code

    elder = street["elder"]
    sign_in_by_code(client, db, elder.phone)
    page = client.get("/needs/new")
    form = {
        "csrf_token": csrf_from(page.text),
        "kind": street["kind"].id,
        "text": "阳台漏水",
        "place": 0,
        "place_note": "",
        "for_phone": "",
    }
    four = [(io.BytesIO(_jpeg()), f"{n}.jpg") for n in range(4)]
    refused = client.post(
        "/needs/new", data={**form, "photos": four}, content_type="multipart/form-data"
    )
    assert refused.status_code == 200 and "最多 3 张照片" in refused.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Need)) == 0
    two = [(io.BytesIO(_jpeg()), f"{n}.jpg") for n in range(2)]
    made = client.post(
        "/needs/new", data={**form, "photos": two}, content_type="multipart/form-data"
    )
    assert made.status_code == 302
    need = db.session.scalars(sa.select(Need)).one()
    photo = f"/needs/{need.id}/photo/2"
    shown = client.get(photo)
    assert shown.status_code == 200 and "no-store" in shown.headers["Cache-Control"]
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
    stranger = make_stranger(db, now)
    sign_in_by_code(client, db, stranger.phone)
    assert client.get(photo).status_code == 404  # another community's
    assert client.get(f"/needs/{need.id}").status_code == 404


def test_a_problem_passed_to_a_department_is_answered_by_staff_and_pays_nobody(db, now, street):
    elder, staff = street["elder"], street["staff"]
    need = needs.post(elder, "小区门口路灯坏了一个月", kind=street["kind"], now=now, source="text")
    with pytest.raises(NotPermitted):
        needs.whistle(need, "城管", actor=street["unit_leader"], now=now)
    needs.whistle(need, "区城管局", actor=staff, now=now)
    assert (need.status, need.department, need.taker_id) == ("taken", "区城管局", None)
    assert "区城管局" in notices(db, elder)[-1]
    with pytest.raises(NotPermitted):
        needs.done(need, street["volunteer"], now=now, source="web")
    needs.done(need, staff, note="已换新灯", now=now, source="panel")
    assert "区城管局" in notices(db, elder)[-1] and "回复1" in notices(db, elder)[-1]
    needs.confirm(need, elder, now=now, source="text")
    assert need.status == "confirmed" and need.transaction_id is None
    assert needs.departments_used({street["community"].id}) == ["区城管局"]


def test_the_best_rated_helpers_of_the_month_lead_to_the_honours(db, now, street, make_volunteer):
    elder, volunteer, leader = street["elder"], street["volunteer"], street["grid_leader"]
    for helper, stars, text_ in (
        (volunteer, 5, "买菜"),
        (leader, 4, "修灯"),
        (volunteer, 4, "取药"),
    ):
        resident = make_volunteer(community=street["community"], name="居民")
        need = needs.post(resident, text_, kind=street["kind"], now=now, source="web")
        needs.take(need, helper, now=now, source="web")
        needs.done(need, helper, now=now, source="web")
        needs.confirm(need, resident, now=now, source="web")
        needs.rate(need, resident, stars, now=now)
    best = needs.best_rated({street["community"].id}, needs.period_month(now, None))
    assert [(h.person.name, h.average, h.rated, h.leader) for h in best] == [
        ("李小哥", 4.5, 2, False),
        ("孙网格长", 4.0, 1, True),
    ]
    assert elder.id not in [h.person.id for h in best]


def test_the_dashboard_charts_requests_raised_solved_and_their_time(client, db, now, street, login):
    from app.points import dashboard

    elder, volunteer = street["elder"], street["volunteer"]
    need = needs.post(elder, "修门锁", kind=street["kind"], now=now, source="web")
    needs.take(need, volunteer, now=now, source="web")
    needs.done(need, volunteer, now=now, source="web")
    needs.confirm(need, elder, now=now + timedelta(hours=5), source="web")
    needs.post(elder, "再修一次", kind=street["kind"], now=now, source="web")
    series = dashboard.needs_by_month({street["community"].id}, now + timedelta(hours=6))
    assert (series.values["raised"][-1], series.values["solved"][-1]) == (2, 1)
    assert series.values["median_hours"][-1] == 5.0
    login(street["staff"])
    page = client.get(f"/panel/dashboard?community={street['community'].id}")
    assert page.status_code == 200 and "每月居民求助" in page.text and "第一网格" in page.text


def test_a_leader_posts_on_the_phone_for_a_resident_of_their_unit_only(
    client, db, now, street, make_volunteer
):
    from tests.conftest import csrf_from
    from tests.test_volunteer_flow import sign_in_by_code

    leader, elder = street["unit_leader"], street["elder"]
    sign_in_by_code(client, db, leader.phone)
    page = client.get("/needs/new")
    assert "为居民代提" in page.text  # a 三长 may post for a resident
    form = {
        "csrf_token": csrf_from(page.text),
        "kind": street["kind"].id,
        "text": "王奶奶家水管漏水，她不会用手机",
        "place": 0,
        "place_note": "",
    }
    elsewhere = make_volunteer(name="外单元")
    for phone in (elsewhere.phone, "+8613999999999"):  # not theirs, and nobody: the same
        refused = client.post("/needs/new", data={**form, "for_phone": phone})
        assert refused.status_code == 200 and "不能为这位居民代提" in refused.text
    made = client.post("/needs/new", data={**form, "for_phone": elder.phone})
    assert made.status_code == 302
    need = db.session.scalars(sa.select(Need)).one()
    assert (need.resident_id, need.posted_by_id, need.place_id) == (
        elder.id,
        leader.id,
        street["home"].id,
    )


def test_a_worker_keeps_kinds_and_resources_of_their_communities_only(
    client, db, now, street, login, make_community, make_user
):
    from app.models import NeedKind, Resource
    from tests.conftest import csrf_from

    staff, community = street["staff"], street["community"]
    other = make_community()
    login(staff)
    page = client.get("/panel/need-kinds/new")
    kind = {"csrf_token": csrf_from(page.text), "name": "代办", "points": 5, "step_hours": 24,
            "team": 0, "active": "y"}  # fmt: skip
    for elsewhere in (0, other.id):  # the street's, another community's: not a choice here
        refused = client.post("/panel/need-kinds/new", data={**kind, "community": elsewhere})
        assert refused.status_code == 200 and "has-error" in refused.text
    done = client.post("/panel/need-kinds/new", data={**kind, "community": community.id})
    assert done.status_code == 302
    assert db.session.scalars(sa.select(NeedKind.community_id).filter_by(name="代办")).all() == [
        community.id
    ]
    page = client.get("/panel/resources/new")
    post = {"csrf_token": csrf_from(page.text), "kind": "post", "title": "文明劝导岗",
            "capacity_unit": "times", "provider_merchant": 0, "active": "y"}  # fmt: skip
    client.post("/panel/resources/new", data={**post, "community": other.id})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Resource)) == 0
    assert (
        client.post("/panel/resources/new", data={**post, "community": community.id}).status_code
        == 302
    )
    found = db.session.scalars(sa.select(Resource)).one()
    assert (found.community_id, found.kind, found.capacity) == (community.id, "post", None)
    street_kind = street["kind"]  # the street's: the administrators'
    assert client.get(f"/panel/need-kinds/{street_kind.id}").status_code == 403


def test_a_need_only_climbs_even_when_its_leader_left_meanwhile(db, now, app_clock, street):
    from app.models import LeaderRole

    need = needs.post(street["elder"], "楼道灯坏了", kind=street["kind"], now=now, source="web")
    app_clock.advance(hours=4, minutes=1)
    needs.escalate_due(app_clock())
    assert need.step == "building_leader"
    db.session.execute(
        sa.delete(LeaderRole).where(LeaderRole.person_id == street["building_leader"].id)
    )
    app_clock.advance(hours=4, minutes=1)
    needs.escalate_due(app_clock())
    db.session.refresh(need)
    assert need.step == "grid_leader"  # up, never back to the unit leader
    app_clock.advance(hours=4, minutes=1)
    needs.escalate_due(app_clock())
    db.session.refresh(need)
    assert (need.step, need.step_due_at) == ("community", None)
    assert needs.escalate_due(app_clock() + timedelta(days=30)) == 0  # the staff: the last


def test_the_panel_list_pages_through_many_requests(client, db, now, street, login, make_volunteer):
    for n in range(27):
        resident = make_volunteer(community=street["community"], name=f"居民{n}")
        needs.post(resident, f"第{n}件事", kind=street["kind"], now=now, source="web")
    first = needs.for_staff({street["community"].id})
    second = needs.for_staff({street["community"].id}, page=2)
    assert (len(first.items), len(second.items), first.total) == (25, 2, 27)
    assert first.items[0].text == "第0件事"  # oldest first: the longest waiting on top
    login(street["staff"])
    page = client.get("/panel/needs?page=2")
    assert "第26件事" in page.text and "第0件事" not in page.text


def test_a_texted_request_keeps_its_chinese_punctuation(client, db, gateway_token, street):
    messages(text(client, street["elder"].phone, "求助 厨房水管漏水，请帮忙看看（急）"))
    assert db.session.scalars(sa.select(Need.text)).one() == "厨房水管漏水，请帮忙看看（急）"


def test_only_help_or_帮助_with_words_asks_a_question_mark_does_not(
    client, db, gateway_token, street
):
    (answer,) = messages(text(client, street["elder"].phone, "? 积分怎么算"))
    assert "邻里指令" in answer
    (asked,) = messages(text(client, street["elder"].phone, "帮助 帮我换个灯泡"))
    assert "求助 #" in asked
    assert db.session.scalars(sa.select(Need.text)).all() == ["帮我换个灯泡"]


def test_the_request_lists_run_as_many_statements_for_twenty_as_for_two(
    client, db, now, street, login, make_volunteer
):
    """No statement per request on the phone's list or the panel's (they load together)."""
    from tests.conftest import csrf_from
    from tests.test_statement_counts import counting, work
    from tests.test_volunteer_flow import sign_in_by_code

    def post_some(count: int) -> None:
        for n in range(count):
            resident = make_volunteer(community=street["community"], name=f"居民{n}")
            needs.post(resident, f"第{n}件", kind=street["kind"], now=now, source="web")
        db.session.flush()

    def statements(path: str) -> int:
        with counting() as seen:
            assert client.get(path).status_code == 200
        return work(seen)

    post_some(2)
    sign_in_by_code(client, db, street["volunteer"].phone)
    few = statements("/needs?all=1")
    post_some(18)
    assert statements("/needs?all=1") == few
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
    login(street["staff"])
    few = statements("/panel/needs")
    post_some(5)
    assert statements("/panel/needs") == few
