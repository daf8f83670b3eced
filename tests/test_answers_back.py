"""Answers come back (issue 20): a resident hears, over their own channel and in their own
language, what staff decided about them — an objection answered and what it changed, a
correction made or refused, an attendance confirmed, refused or corrected."""

from datetime import timedelta

import sqlalchemy as sa

from app.activities import attendance
from app.channels import delivery
from app.models import OutboxMessage
from app.points import awards, deeds, statements
from tests.test_chat_sms import messages, text


def notices(person) -> list[tuple[str, str]]:
    return [
        (m.kind, m.body)
        for m in OutboxMessage.query.filter_by(person_id=person.id).order_by(OutboxMessage.id)
    ]


def _published(community, staff, volunteer, now):
    awards.award(
        volunteer, 30, reason="好人好事", idempotency_key="a", now=now, actor=staff,
        source="test", notify=False,
    )  # fmt: skip
    return statements.publish(
        statements.generate(community, "2026-11", actor=staff, now=now), actor=staff, now=now
    )


def test_an_elder_who_objected_by_text_hears_the_answer_by_text(
    app, client, db, now, app_clock, gateway, make_community, make_user, make_volunteer
):
    community = make_community()
    staff = make_user(communities=[community], name="李社工")
    elder = make_volunteer(community=community, name="王秀英", phone="+8613800138000")
    _published(community, staff, elder, now)
    app_clock.advance(days=1)
    (reply,) = messages(
        text(client, elder.phone, "异议 义诊两小时只记了一小时", token=gateway.auth_token)
    )
    assert "异议已提交" in reply or "已提交" in reply
    (objection,) = statements.open_objections({community.id})
    checker = make_user(communities=[community], name="王社工", phone="13900000654")
    statements.answer(
        objection,
        text="核实后补记 15 分。",
        points=15,
        actor=checker,
        community_ids={community.id},
        now=app_clock(),
    )
    # One notice says both: the answer and the points it moved (not a second message).
    ((kind, body),) = notices(elder)
    assert kind == "objection_answer"
    assert body == (
        "邻里：您对 2026-11 公示的异议已答复，已为您更正 +15 积分，现有 45 积分。"
        "答复：核实后补记 15 分。"
    )
    report = delivery.deliver_due(app_clock)
    assert report.sent == 1
    (sent,) = gateway.messages
    assert sent["To"] == "+8613800138000" and sent["Body"] == body


def test_a_big_correction_from_an_objection_is_announced_when_a_second_worker_decides(
    db, now, make_community, make_user, make_volunteer, english
):
    community = make_community()
    staff = make_user(communities=[community])
    elder = make_volunteer(community=community, name="Wang")
    elder.locale = "en"
    statement = _published(community, staff, elder, now)
    objection = statements.object_to(statement, elder, "two hours, not one", now=now)
    statements.answer(
        objection, text="We checked.", points=500, actor=staff, community_ids=None, now=now
    )
    ((_kind, body),) = notices(elder)
    assert body == (
        "Linli: your objection to the 2026-11 statement was answered; a correction of +500 "
        "points waits for a second staff member, and you will be told when it is made. "
        "Answer: We checked."
    )
    checker = make_user(communities=[community], phone="13900000777")
    adjustment = deeds.get_adjustment(objection.adjustment_id)
    deeds.decide_adjustment(
        adjustment, approve=True, checker=checker, community_ids=None, note="", now=now
    )
    assert notices(elder)[-1] == (
        "adjustment",
        "Linli: your points were corrected by +500; your balance is now 530. "
        "Reason: 2026-11 公示异议：We checked.",
    )


def test_a_refused_correction_is_announced_with_the_reason(db, now, make_user, make_volunteer):
    person = make_volunteer(points=50)
    maker = make_user(communities=[person.community])
    checker = make_user(communities=[person.community], phone="13900000778")
    big = deeds.propose_adjustment(
        person, 300, reason="补录上月义诊", maker=maker, community_ids=None,
        idempotency_key="b", now=now,
    )  # fmt: skip
    assert notices(person) == []  # nothing has changed for them yet
    deeds.decide_adjustment(
        big, approve=False, checker=checker, community_ids=None, note="签到表上没有", now=now
    )
    assert notices(person) == [
        ("adjustment", "邻里：为您申请的 +300 积分更正（补录上月义诊）未获批准。原因：签到表上没有")
    ]
    small = deeds.propose_adjustment(
        person, -20, reason="重复发放", maker=maker, community_ids=None,
        idempotency_key="s", now=now,
    )  # fmt: skip
    assert small.status == "posted"
    assert notices(person)[-1] == (
        "adjustment",
        "邻里：您的积分已更正 -20，现有 30 积分。原因：重复发放",
    )


def _attended(make_activity, volunteer, now, **fields):
    activity = make_activity(community=volunteer.community, title="周六义诊", **fields)
    attendance.check_in(activity, volunteer, now=now)
    record = attendance.check_out(activity, volunteer, now=now + timedelta(minutes=90)).attendance
    return activity, record


def test_an_attendance_refused_or_corrected_is_announced_once_with_its_figures(
    db, now, make_user, make_volunteer, make_activity
):
    volunteer = make_volunteer()
    staff = make_user(communities=[volunteer.community])
    _activity, record = _attended(make_activity, volunteer, now, points=20)
    assert record.status == "approved"
    before = len(notices(volunteer))  # the points it earned were announced with the posting
    later = now + timedelta(hours=3)
    attendance.correct_times(
        record,
        checked_in_at=now,
        checked_out_at=now + timedelta(minutes=120),
        actor=staff,
        now=later,
        reason="签到表为两小时",
    )
    added = notices(volunteer)[before:]
    assert added == [
        (
            "attendance",
            "邻里：工作人员已将您参加“周六义诊”的时间更正为 11-15 10:30–12:30：120 分钟，"
            "20 积分。原因：签到表为两小时",
        )
    ]  # one notice with the new figures, not "you received 20 points" besides
    attendance.reject(record, actor=staff, now=later, reason="当天未到场")
    assert notices(volunteer)[-1] == (
        "attendance",
        "邻里：您参加“周六义诊”的考勤未被确认，已扣回 20 积分。原因：当天未到场",
    )


def test_hours_without_points_are_announced_when_staff_confirm_them(
    db, now, make_user, make_volunteer, make_activity
):
    volunteer = make_volunteer()
    staff = make_user(communities=[volunteer.community])
    _activity, record = _attended(make_activity, volunteer, now, points=0, needs_approval=True)
    assert record.status == "pending" and notices(volunteer) == []
    attendance.approve(record, actor=staff, now=now + timedelta(hours=3))
    assert notices(volunteer) == [("attendance", "邻里：您参加“周六义诊”的 90 分钟服务已确认。")]


def test_no_answer_goes_to_one_who_stopped_them_and_none_in_the_night(
    db, now, make_user, make_volunteer, make_activity
):
    volunteer = make_volunteer()
    staff = make_user(communities=[volunteer.community])
    _activity, record = _attended(make_activity, volunteer, now, points=0, needs_approval=True)
    volunteer.notifications_off = True
    attendance.approve(record, actor=staff, now=now + timedelta(hours=3))
    assert notices(volunteer) == []
    volunteer.notifications_off = False
    _activity, record = _attended(make_activity, volunteer, now, points=0, needs_approval=True)
    night = now.replace(hour=15, minute=30)  # 23:30 in Shanghai
    attendance.approve(record, actor=staff, now=night)
    (message,) = db.session.scalars(sa.select(OutboxMessage)).all()
    assert message.next_attempt_at == night.replace(hour=23, minute=0)  # 07:00 next morning
