"""Honours and star levels: given by staff, shown on boards, statements, chat; a new star
level earns a congratulation."""

from datetime import timedelta

import pytest

from app.activities import attendance
from app.channels import outbox
from app.chat.commands import respond
from app.core.errors import InvalidInput, NotPermitted
from app.points import honours, rankings, statements
from app.points.rankings import Scope


def test_grant_and_show_everywhere(db, now, make_community, make_volunteer, make_user):
    community = make_community()
    person = make_volunteer(community=community, name="王小芳", points=30)
    staff = make_user(communities=[community])
    honours.grant(
        person,
        "社区好人",
        "2026-11",
        reason="照顾独居老人",
        actor=staff,
        community_ids={community.id},
        now=now,
    )
    again = honours.grant(
        person, "社区好人", "2026-11", reason="", actor=staff, community_ids={community.id}, now=now
    )
    assert len(honours.of(person)) == 1 and again.reason == "照顾独居老人"
    assert "恭喜" in outbox.recent(1)[0].body
    (line,) = rankings.board(Scope("community", community.id), "month", now)
    assert line.honours == ("社区好人",)
    assert rankings.board(Scope("community", community.id), "year", now)[0].honours == ()
    statement = statements.generate(community, "2026-11", actor=staff, now=now)
    assert statement.lines[0]["honours"] == ["社区好人"]
    assert "社区好人" in respond(person, "积分", now=now).text


def test_bad_honours_are_refused(db, now, make_volunteer, make_user, make_community):
    person = make_volunteer()
    staff = make_user(communities=[make_community()])
    with pytest.raises(InvalidInput):
        honours.grant(
            person, "宇宙之王", "2026-11", reason="", actor=staff, community_ids=None, now=now
        )
    with pytest.raises(InvalidInput):
        honours.grant(
            person, "社区好人", "11/2026", reason="", actor=staff, community_ids=None, now=now
        )
    with pytest.raises(NotPermitted):
        honours.grant(
            person,
            "社区好人",
            "2026",
            reason="",
            actor=staff,
            community_ids={staff.staff_communities[0].community_id},
            now=now,
        )


def test_a_new_star_level_is_congratulated(db, now, make_activity, make_volunteer):
    activity = make_activity(hours=2, points=1)
    person = make_volunteer(community=activity.community)
    person.verified_minutes = 100 * 60 - 30  # half an hour short of 1 star
    attendance.check_in(activity, person, now=now)
    attendance.check_out(activity, person, now=now + timedelta(hours=1))
    assert person.verified_minutes == 100 * 60 + 30
    assert any("1 星志愿者" in m.body for m in outbox.recent(5))
