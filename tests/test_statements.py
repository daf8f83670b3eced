"""The monthly statement: lines by category, publishing freezes it, objections and answers."""

from datetime import timedelta

import pytest

from app.activities import attendance
from app.core.errors import BusinessRuleError, NotPermitted
from app.partners import personal_codes, redemptions
from app.points import awards, deeds, ledger, statements

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def month(db, now, make_community, make_volunteer, make_activity, make_merchant, make_user):
    community = make_community()
    staff = make_user(communities=[community], name="李社工")
    volunteer = make_volunteer(community=community, name="王小芳", points=0)
    awards.award(
        volunteer,
        30,
        reason="好人好事",
        idempotency_key="a",
        now=now,
        actor=staff,
        source="test",
        notify=False,
    )
    activity = make_activity(community=community, category="elderly_care", points=20)
    attendance.check_in(activity, volunteer, now=now)
    attendance.check_out(activity, volunteer, now=now + timedelta(minutes=90))
    merchant, offer = make_merchant(communities=[community], points_cost=15)
    code = personal_codes.issue(volunteer, now=now)
    redemptions.redeem(
        ticket=redemptions.start(code.digits, merchant, operator=None, now=now),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=None,
        idempotency_key="r",
        now=now,
    )
    deeds.propose_adjustment(
        volunteer,
        -5,
        reason="扣分：乱扔垃圾",
        maker=staff,
        community_ids=None,
        idempotency_key="d",
        now=now,
    )
    return community, staff, volunteer


def test_a_line_per_person_by_category(db, now, month):
    community, staff, volunteer = month
    statement = statements.generate(community, "2026-11", actor=staff, now=now)
    (line,) = statement.lines
    assert line["masked"] == "王*芳" and line["person_id"] == volunteer.id
    assert line["earned"] == {"adjustment": -5, "award": 30, "elderly_care": 20}
    assert line["earned_total"] == 45 and line["spent"] == 15 and line["minutes"] == 90


def test_publishing_freezes_the_month(db, now, month):
    community, staff, volunteer = month
    statement = statements.generate(community, "2026-11", actor=staff, now=now)
    statements.publish(statement, actor=staff, now=now)
    frozen = [dict(line) for line in statement.lines]
    awards.award(
        volunteer,
        100,
        reason="补录",
        idempotency_key="late",
        now=now,
        actor=staff,
        source="test",
        notify=False,
    )
    with pytest.raises(BusinessRuleError, match="published"):
        statements.generate(community, "2026-11", actor=staff, now=now)
    assert statement.lines == frozen and statements.intact(statement)
    assert ledger.check() == []


def test_objection_and_an_answer_that_changes_points(db, now, month, make_user, make_volunteer):
    community, staff, volunteer = month
    statement = statements.publish(
        statements.generate(community, "2026-11", actor=staff, now=now), actor=staff, now=now
    )
    objection = statements.object_to(
        statement, volunteer, "义诊服务了两小时，只记了90分钟", now=now + timedelta(days=1)
    )
    assert statements.open_objections({community.id}) == [objection]
    checker = make_user(communities=[community], name="王社工", phone="13900000654")
    statements.answer(
        objection,
        text="核实后补记 10 分",
        points=10,
        actor=checker,
        community_ids={community.id},
        now=now + timedelta(days=2),
    )
    assert objection.status == "answered" and objection.adjustment_id
    assert statements.open_objections({community.id}) == []
    with pytest.raises(BusinessRuleError):
        statements.object_to(statement, volunteer, "太晚了", now=now + timedelta(days=8))
    stranger = make_volunteer(points=0)
    with pytest.raises(NotPermitted):
        statements.object_to(statement, stranger, "不是我的社区", now=now + timedelta(days=1))


def test_the_statement_pages_and_an_objection_by_text(client, db, now, app_clock, month, login):
    from app.chat.commands import respond
    from app.people import people
    from tests.conftest import csrf_from

    community, staff, volunteer = month
    login(staff)
    page = client.get("/panel/statements")
    response = client.post(
        "/panel/statements",
        data={"csrf_token": csrf_from(page.text), "community": community.id, "month": "2026-11"},
    )
    detail = client.get(response.headers["Location"])
    assert "王小芳" in detail.text and "助老服务" in detail.text
    statement_id = response.headers["Location"].rsplit("/", 1)[1]
    assert client.get(f"/statements/{statement_id}").status_code == 404  # not public yet
    client.post(
        f"/panel/statements/{statement_id}/publish", data={"csrf_token": csrf_from(detail.text)}
    )
    csv = client.get(f"/panel/statements/{statement_id}.csv").data.decode()
    assert csv.startswith("\ufeff") and "王小芳" in csv
    public = client.get(f"/statements/{statement_id}")
    assert "王*芳" in public.text and "王小芳" not in public.text
    reply = respond(volunteer, "异议 义诊服务时长少记了", now=app_clock() + timedelta(hours=1)).text
    assert "已提交" in reply or "sent" in reply
    client.post("/logout", data={"csrf_token": csrf_from(public.text)})
    people.set_password(volunteer, "correct horse")
    login(volunteer)
    page = client.get(f"/statements/{statement_id}")
    assert "提交异议" in page.text
    client.post(
        f"/statements/{statement_id}",
        data={"csrf_token": csrf_from(page.text), "reason": "还少记了一次"},
    )
    assert len(statements.open_objections({community.id})) == 2


def test_staff_answer_an_objection_in_the_inbox(
    client, db, now, app_clock, month, login, make_user
):
    community, staff, volunteer = month
    statement = statements.publish(
        statements.generate(community, "2026-11", actor=staff, now=now), actor=staff, now=now
    )
    objection = statements.object_to(statement, volunteer, "少记了义诊", now=now)
    login(staff)
    inbox = client.get("/panel/approvals")
    assert "少记了义诊" in inbox.text
    from tests.conftest import csrf_from

    client.post(
        f"/panel/objections/{objection.id}/answer",
        data={"csrf_token": csrf_from(inbox.text), "answer": "已核实，补 8 分", "points": "8"},
    )
    assert objection.status == "answered" and objection.adjustment_id is not None
    assert "少记了义诊" not in client.get("/panel/approvals").text
