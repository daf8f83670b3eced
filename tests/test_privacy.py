"""Public pages single nobody out: no room numbers, no score of someone who opted out."""

import re

from app.people import org, people
from app.points import awards


def test_an_opted_out_resident_is_not_published_by_score_or_household(
    client, db, now, make_community
):
    community = make_community("阳光社区")
    home = org.place(community, "第1网格", "1号楼", "1单元", "101")
    shy = people.create_person(
        name="王小芳",
        phone="13800138501",
        community=community,
        org_unit=home,
        now=now,
        actor=None,
        source="test",
    )
    other = people.create_person(
        name="李大明",
        phone="13800138502",
        community=community,
        org_unit=org.place(community, "第1网格", "2号楼", "1单元", "202"),
        now=now,
        actor=None,
        source="test",
    )
    for person, points, key in ((shy, 260, "s"), (other, 40, "o")):
        awards.award(
            person, points, reason="x", idempotency_key=key, now=now, actor=None, source="test"
        )
    people.set_preferences(shy, hide_from_boards=True, locale="zh", now=now)
    board = client.get(f"/boards?scope=community:{community.id}").text
    groups = client.get(f"/boards/groups?community={community.id}").text
    for page in (board, groups):
        # Whole numbers only: the boards name their month (2026-11), which holds "202".
        assert not re.search(r"\b260\b", page) and "王" not in page
        assert not re.search(r"\b(101|202)\b", page)  # no room numbers in public
    assert "2号楼 1单元 2**" in groups and "40.0" in groups
