"""Ranking boards: maths against a brute force over the ledger, ties, reversals, scopes."""

from collections import defaultdict
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models import BoardCount, LedgerEntry, LedgerTransaction, Team, TeamMember
from app.people import org, people
from app.points import awards, board_counts, ledger, ledger_fingerprint, rankings
from app.points.rankings import Scope
from tests.conftest import DB_KIND

operations = st.lists(
    st.one_of(
        st.tuples(st.just("award"), st.integers(0, 5), st.integers(1, 30)),
        st.tuples(st.just("reverse"), st.integers(0, 40), st.just(0)),
    ),
    max_size=30,
)


def competition_ranks(earned: dict[int, int]) -> dict[int, int]:
    """1 + how many earned more: ties share a place, the next place skips."""
    return {
        pid: 1 + sum(1 for other in earned.values() if other > amount)
        for pid, amount in earned.items()
        if amount > 0
    }


def six_volunteers(here, there, now):
    """Four in `here`, two in `there`."""
    return [
        people.create_person(
            name=f"志愿者{i}",
            phone=f"+86137{i:08d}",
            community=here if i < 4 else there,
            now=now,
            actor=None,
            source="test",
        )
        for i in range(6)
    ]


def play(ops, crowd, here, there, now) -> None:
    """Carry out the generated operations in order, each a second apart and all before
    `now` (inside this month even at 00:05 on the 1st): award, reverse (an earlier award;
    reversing one twice under its key replays the first reversal), hide, show, move."""
    posted = []
    for step, (op, who, points) in enumerate(ops):
        when = now - timedelta(seconds=len(ops) - step)
        person = crowd[who % len(crowd)]
        if op == "award":
            posted.append(
                awards.award(
                    person,
                    points,
                    reason="x",
                    idempotency_key=f"a{step}",
                    now=when,
                    actor=None,
                    source="test",
                    notify=False,
                )
            )
        elif op == "reverse" and posted:
            original = posted[who % len(posted)]
            ledger.reverse(original, idempotency_key=f"r{original.id}", now=when)
        elif op in ("hide", "show"):
            people.set_preferences(person, hide_from_boards=op == "hide", locale="zh", now=when)
        elif op == "move":
            elsewhere = there if person.community_id == here.id else here
            people.update_person(person, community=elsewhere, now=when, actor=None, source="test")


def earned_from_ledger(wallet_to_person: dict[int, int]) -> dict[int, int]:
    from app.core.extensions import db

    original = sa.orm.aliased(LedgerTransaction)
    rows = db.session.execute(
        sa.select(LedgerEntry.account_id, LedgerEntry.amount)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .outerjoin(original, LedgerTransaction.reverses_id == original.id)
        .where(
            LedgerEntry.account_id.in_(list(wallet_to_person)),
            sa.or_(
                LedgerTransaction.kind.in_(ledger.EARNING_KINDS),
                original.kind.in_(ledger.EARNING_KINDS),
            ),
        )
    )
    earned: dict[int, int] = defaultdict(int)
    for account_id, amount in rows:
        earned[wallet_to_person[account_id]] += amount
    return earned


@pytest.mark.any_day
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_boards_match_a_brute_force_over_the_ledger(db, make_community, now, ops):
    try:
        here, there = make_community(), make_community()
        crowd = six_volunteers(here, there, now)
        play(ops, crowd, here, there, now)
        wallets = {ledger.wallet_for(p).id: p.id for p in crowd}
        earned = earned_from_ledger(wallets)
        for scope, members in (
            (Scope("street"), crowd),
            (Scope("community", here.id), crowd[:4]),
            (Scope("community", there.id), crowd[4:]),
        ):
            mine = {p.id: earned.get(p.id, 0) for p in members}
            expected = competition_ranks(mine)
            shown = rankings.board(scope, "month", now)
            assert {line.person_id: line.position for line in shown} == expected
            assert [line.earned for line in shown] == sorted(
                (a for a in mine.values() if a > 0), reverse=True
            )
            for person in members:
                rank = rankings.rank_of(person, scope, "all", now)
                assert rank.position == expected.get(person.id)
                assert rank.earned == mine[person.id]
                if rank.position and rank.position > 1:
                    above = min(a for a in mine.values() if a > mine[person.id])
                    assert rank.to_next == above - mine[person.id]
    finally:
        db.session.rollback()
        db.session.expunge_all()


counted_operations = st.lists(
    st.one_of(
        st.tuples(st.just("award"), st.integers(0, 5), st.sampled_from([5, 10, 10, 20, 30])),
        st.tuples(st.just("reverse"), st.integers(0, 40), st.just(0)),
        st.tuples(st.sampled_from(["hide", "show", "move"]), st.integers(0, 5), st.just(0)),
    ),
    max_size=30,
)


@pytest.mark.any_day
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=counted_operations)
def test_ranks_from_the_counts_are_the_exact_ranks(db, make_community, now, ops):
    """The street's and a community's "my rank" come from the boards' histogram; whatever
    is posted, reversed, hidden, shown or moved to another community, they agree with the
    rank counted from the period totals, for everyone (in the scope or not, shown or not),
    and ledger-check finds the counts right. Small amounts, so that ties are common."""
    try:
        here, there = make_community(), make_community()
        crowd = six_volunteers(here, there, now)
        play(ops, crowd, here, there, now)
        db.session.flush()
        assert board_counts.check() == []
        if DB_KIND == "postgresql":  # the quick proof agrees: nothing to look into
            assert ledger_fingerprint.failing() == set()
        for scope in (Scope("street"), Scope("community", here.id), Scope("community", there.id)):
            for period in ("month", "all"):
                key = rankings.period_key(period, now)
                for person in crowd:
                    wallet = ledger.find_wallet(person)
                    earned = ledger.period_total(wallet, key) if wallet else 0
                    exact = rankings.exact_rank(person, scope, key, earned)
                    assert rankings.rank_of(person, scope, period, now) == exact, (scope, person)
    finally:
        db.session.rollback()
        db.session.expunge_all()


def test_rebuilt_counts_are_the_kept_ones_and_a_wrong_count_is_reported(
    db, now, make_community, make_volunteer
):
    community = make_community()
    for points in (30, 30, 10):
        make_volunteer(community=community, points=points)
    kept = sorted(db.session.execute(sa.select(BoardCount.__table__)).all())
    assert kept and board_counts.check() == []
    board_counts.rebuild()
    assert sorted(db.session.execute(sa.select(BoardCount.__table__)).all()) == kept
    db.session.execute(
        sa.update(BoardCount)
        .where(BoardCount.scope == f"community:{community.id}", BoardCount.amount == 10)
        .values(wallets=BoardCount.wallets + 1)
    )
    month = rankings.period_key("month", now)
    assert (
        f"board community:{community.id} period {month}: 2 wallets counted at 10 points, "
        "period totals give 1" in board_counts.check()
    )
    assert any("board community:" in line for line in ledger.check())


@pytest.mark.any_day
def test_ties_share_a_place_and_the_next_skips(db, now, make_community, make_volunteer):
    community = make_community()
    a, b, c = (make_volunteer(community=community, points=p) for p in (30, 30, 10))
    lines = rankings.board(Scope("community", community.id), "month", now)
    assert [(line.position, line.earned) for line in lines] == [(1, 30), (1, 30), (3, 10)]
    assert rankings.rank_of(c, Scope("community", community.id), "month", now).to_next == 20


def test_opting_out_keeps_the_count_but_hides_the_name(db, now, make_community, make_volunteer):
    community = make_community()
    shy = make_volunteer(community=community, name="王小芳", points=50)
    make_volunteer(community=community, name="李四", points=20)
    people.set_preferences(shy, hide_from_boards=True, locale="zh", now=now)
    lines = rankings.board(Scope("community", community.id), "month", now)
    assert [line.name for line in lines] == ["李*"]  # off the public board, not "anonymous"
    assert rankings.rank_of(shy, Scope("community", community.id), "month", now).position == 1


def test_grid_and_team_scopes_and_periods(db, now, make_community, make_volunteer):
    community = make_community()
    home = org.place(community, "第1网格", "1号楼")
    inside = people.create_person(
        name="网格内",
        phone="13800138701",
        community=community,
        org_unit=home,
        now=now,
        actor=None,
        source="test",
    )
    awards.award(
        inside,
        10,
        reason="x",
        idempotency_key="g",
        now=now,
        actor=None,
        source="test",
        notify=False,
    )
    outside = make_volunteer(community=community, points=99)
    grid = home.parent
    assert [line.person_id for line in rankings.board(Scope("grid", grid.id), "month", now)] == [
        inside.id
    ]
    team = Team(community_id=community.id, name="小巷骑兵")
    from app.core.extensions import db as _db

    _db.session.add(team)
    _db.session.flush()
    _db.session.add(TeamMember(team_id=team.id, person_id=outside.id))
    _db.session.flush()
    assert [line.person_id for line in rankings.board(Scope("team", team.id), "year", now)] == [
        outside.id
    ]
    next_month = now + timedelta(days=31)
    assert rankings.board(Scope("community", community.id), "month", next_month) == []
    assert len(rankings.board(Scope("community", community.id), "last_month", next_month)) == 2
    assert Scope.parse("grid:7") == Scope("grid", 7) and Scope.parse("nonsense") == Scope("street")


def test_board_pages_public_masked_and_my_rank(
    client, db, now, app_clock, make_community, make_volunteer, login
):
    from app.people import people as people_service
    from tests.conftest import csrf_from

    community = make_community("阳光社区")
    me = make_volunteer(community=community, name="王小芳", phone="+8613800138801", points=20)
    make_volunteer(community=community, name="李大明", points=50)
    page = client.get(f"/boards?scope=community:{community.id}")
    assert page.status_code == 200 and "李*明" in page.text and "王*芳" in page.text
    assert "王小芳" not in page.text and me.phone not in page.text
    people_service.set_password(me, "correct horse")
    login(me)
    page = client.get("/boards")
    assert "第 2 名" in page.text and "再得 30 分" in page.text
    settings = client.get("/settings")
    client.post(
        "/settings",
        data={"csrf_token": csrf_from(settings.text), "hide_from_boards": "1", "locale": "zh"},
    )
    assert me.hide_from_boards
    assert "王*芳" not in client.get(f"/boards?scope=community:{community.id}").text
    data = client.get(f"/boards.json?scope=community:{community.id}&period=month").get_json()
    assert [line["name"] for line in data["lines"]] == ["李*明"]
    screen = client.get(f"/boards/screen?community={community.id}")
    assert screen.status_code == 200 and "data-boards" in screen.text and "李*明" in screen.text
    assert "i=1" in screen.text  # without JavaScript, the page moves on to the next board


@pytest.mark.any_day
def test_household_team_and_grid_boards(client, db, now, make_community, make_activity):
    from app.activities import attendance

    community = make_community("阳光社区")
    home_a = org.place(community, "第1网格", "1号楼", "1单元", "101")
    home_b = org.place(community, "第2网格", "2号楼", "1单元", "201")
    a1, a2, b1 = (
        people.create_person(
            name=n, phone=p, community=community, org_unit=h, now=now, actor=None, source="test"
        )
        for n, p, h in (
            ("甲", "13800138901", home_a),
            ("乙", "13800138902", home_a),
            ("丙", "13800138903", home_b),
        )
    )
    for person, points, key in ((a1, 30, "a1"), (b1, 20, "b1")):
        awards.award(
            person,
            points,
            reason="x",
            idempotency_key=key,
            now=now,
            actor=None,
            source="test",
            notify=False,
        )
    households = rankings.household_board(community.id, "month", now)
    assert [(h.name, h.score, h.members) for h in households] == [
        ("2号楼 1单元 2**", 20.0, 1),
        ("1号楼 1单元 1**", 15.0, 2),
    ]
    from app.core.extensions import db as _db

    team = Team(community_id=community.id, name="小巷骑兵")
    _db.session.add(team)
    _db.session.flush()
    _db.session.add_all(
        [TeamMember(team_id=team.id, person_id=a1.id), TeamMember(team_id=team.id, person_id=a2.id)]
    )
    _db.session.flush()
    assert [(t.name, t.score) for t in rankings.team_board(community.id, "month", now)] == [
        ("小巷骑兵", 30)
    ]
    activity = make_activity(community=community, points=0, starts_in=-timedelta(minutes=4))
    attendance.check_in(activity, b1, now=now - timedelta(minutes=3))
    attendance.check_out(activity, b1, now=now - timedelta(minutes=1))
    grids = rankings.grid_participation(community.id, now)
    assert [(g.name, g.score) for g in grids] == [("第2网格", 100.0), ("第1网格", 0.0)]
    page = client.get(f"/boards/groups?community={community.id}")
    assert "2号楼 1单元 2**" in page.text and "小巷骑兵" in page.text and "100.0%" in page.text
    assert "201" not in page.text and "101" not in page.text  # no room number in public
    assert "甲" not in page.text  # households are named by address, never by a person


def test_masking_chinese_and_latin_names():
    from app.core.text import mask_name

    assert mask_name("张明") == "张*"  # a single-character given name
    assert mask_name("王小芳") == "王*芳"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("Li") == "L*"
    assert mask_name("Alice") == "A***e"
    assert mask_name(" 张 ") == "*" and mask_name("") == "*"


def test_a_thin_month_is_shown_with_last_months_board_each_named(
    client, db, app_clock, now, make_community, make_volunteer
):
    """Early in a month the board has almost no one: last month's follows it, and each says
    which month it is (issue 19)."""
    community = make_community("阳光社区")
    veteran = make_volunteer(community=community, name="王小芳")
    awards.award(
        veteran,
        40,
        reason="上月",
        idempotency_key="last",
        now=now - timedelta(days=31),
        actor=None,
        source="test",
        notify=False,
    )
    make_volunteer(community=community, name="李大明", points=5)
    page = client.get(f"/boards?scope=community:{community.id}").text
    assert "本月（2026-11）获得积分 · 阳光社区" in page
    assert "上月（2026-10）获得积分 · 阳光社区" in page
    this_month, last_month = page.split("上月（2026-10）", 1)
    assert "李*明" in this_month and "王*芳" not in this_month
    assert "王*芳" in last_month
    # Enough people this month: this month alone.
    for i in range(9):
        make_volunteer(community=community, name=f"居民{i}", points=1)
    assert rankings.FEW_ON_A_BOARD == 10
    assert "上月（" not in client.get(f"/boards?scope=community:{community.id}").text
