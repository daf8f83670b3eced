"""Deed rules, awarding deeds to many with limits, and adjustments with a second approver."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.errors import (
    BudgetExceeded,
    BusinessRuleError,
    InsufficientPoints,
    InvalidAmount,
    InvalidInput,
    NotPermitted,
)
from app.models import DeedRule
from app.people import org
from app.points import deeds, ledger

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def rule(db, now, make_user):
    admin = make_user(kind="admin", phone="13900000888")
    return deeds.create_rule(
        deeds.RuleFields(
            title="楼道清洁", category="environment", points=5, daily_limit=1, monthly_limit=2
        ),
        community=None,
        actor=admin,
        now=now,
    )


def test_the_default_catalogue_is_there(db):
    titles = db.session.scalars(sa.select(DeedRule.title)).all()
    assert "助老服务：陪同老人就医" in titles and len(titles) >= 15


def test_bad_rule_input_is_named(db, now, make_user):
    admin = make_user(kind="admin")
    for fields, name in [
        (deeds.RuleFields(title="", category="environment", points=5), "title"),
        (deeds.RuleFields(title="x", category="bribery", points=5), "category"),
        (deeds.RuleFields(title="x", category="other", points=0), "points"),
        (deeds.RuleFields(title="x", category="other", points=5, daily_limit=0), "daily_limit"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            deeds.create_rule(fields, community=None, actor=admin, now=now)
        assert caught.value.field == name


def test_preview_marks_limits_and_reach_and_confirm_skips_them(
    db, now, rule, make_community, make_volunteer, make_user
):
    mine, other = make_community(), make_community()
    staff = make_user(communities=[mine])
    a, b = make_volunteer(community=mine), make_volunteer(community=mine)
    outsider = make_volunteer(community=other)
    scope = {mine.id}
    first = deeds.award_many(
        rule, [a], batch_key="b1", note="", actor=staff, community_ids=scope, now=now
    )
    assert [r.status for r in first] == ["awarded"]
    rows = deeds.preview(rule, [a, b, outsider], community_ids=scope, now=now)
    assert [row.blocked is None for row in rows] == [False, True, False]
    assert "today" in rows[0].blocked and "outside your communities" in rows[2].blocked
    results = deeds.award_many(
        rule, [a, b, outsider], batch_key="b2", note="", actor=staff, community_ids=scope, now=now
    )
    assert [r.status for r in results] == ["skipped", "awarded", "skipped"]
    assert ledger.balance(ledger.wallet_for(a)) == 5 and ledger.balance(ledger.wallet_for(b)) == 5
    assert ledger.find_wallet(outsider).balance == 0
    # Tomorrow once more, then the month's limit of 2 is reached.
    tomorrow = now + timedelta(days=1)
    deeds.award_many(
        rule, [a], batch_key="b3", note="", actor=staff, community_ids=scope, now=tomorrow
    )
    later = now + timedelta(days=2)
    assert "this month" in deeds.preview(rule, [a], community_ids=scope, now=later)[0].blocked
    assert ledger.check() == []


def test_a_repeated_confirm_posts_nothing_twice(db, now, rule, make_volunteer, make_user):
    staff = make_user(kind="admin")
    people = [make_volunteer() for _ in range(3)]
    first = deeds.award_many(
        rule, people, batch_key="same", note="", actor=staff, community_ids=None, now=now
    )
    again = deeds.award_many(
        rule, people, batch_key="same", note="", actor=staff, community_ids=None, now=now
    )
    assert [r.status for r in first] == ["awarded"] * 3
    assert [r.status for r in again] == ["already"] * 3
    assert all(ledger.balance(ledger.wallet_for(p)) == 5 for p in people)


def test_evidence_required_and_inactive_rules(db, now, make_user, make_volunteer):
    admin = make_user(kind="admin")
    rule = deeds.create_rule(
        deeds.RuleFields(title="调解", category="mediation", points=30, evidence_required=True),
        community=None,
        actor=admin,
        now=now,
    )
    person = make_volunteer()
    with pytest.raises(InvalidInput, match="evidence"):
        deeds.award_many(
            rule, [person], batch_key="e", note=" ", actor=admin, community_ids=None, now=now
        )
    deeds.award_many(
        rule,
        [person],
        batch_key="e",
        note="调解3号楼漏水纠纷",
        actor=admin,
        community_ids=None,
        now=now,
    )
    assert "调解3号楼漏水纠纷" in ledger.history(ledger.wallet_for(person))[0][1].memo
    rule.active = False
    with pytest.raises(BusinessRuleError, match="switched off"):
        deeds.award_many(
            rule, [person], batch_key="f", note="x", actor=admin, community_ids=None, now=now
        )


def test_choosing_people_by_building_team_and_phones(db, now, make_community, make_volunteer):
    from app.people import people as people_service

    community = make_community("阳光社区")
    household = org.place(community, "第1网格", "3号楼", "1单元", "101")
    inside = people_service.create_person(
        name="住户甲",
        phone="13800138101",
        community=community,
        org_unit=household,
        now=now,
        actor=None,
        source="test",
    )
    make_volunteer(community=community)  # not in the building
    building = household.parent.parent
    assert deeds.people_under(building) == [inside]
    chosen = deeds.people_from_phones(
        "１３８００１３８１０１\n138 0013 8101, 12345\n13999999999", None
    )
    assert chosen.people == [inside]
    assert [raw for raw, _why in chosen.problems] == ["12345", "13999999999"]


def test_small_adjustments_post_at_once_big_ones_wait_for_a_second_person(
    db, now, make_volunteer, make_user
):
    person = make_volunteer(points=50)
    community = {person.community_id}
    maker = make_user(communities=[person.community])
    checker = make_user(communities=[person.community], phone="13900000777")
    small = deeds.propose_adjustment(
        person,
        -20,
        reason="重复发放",
        maker=maker,
        community_ids=community,
        idempotency_key="s",
        now=now,
    )
    assert small.status == "posted" and ledger.balance(ledger.wallet_for(person)) == 30
    big = deeds.propose_adjustment(
        person,
        300,
        reason="补录上月义诊",
        maker=maker,
        community_ids=community,
        idempotency_key="b",
        now=now,
    )
    assert big.status == "pending" and ledger.balance(ledger.wallet_for(person)) == 30
    with pytest.raises(NotPermitted, match="other than"):
        deeds.decide_adjustment(
            big, approve=True, checker=maker, community_ids=community, note="", now=now
        )
    deeds.decide_adjustment(
        big, approve=True, checker=checker, community_ids=community, note="", now=now
    )
    assert big.status == "posted" and ledger.balance(ledger.wallet_for(person)) == 330
    with pytest.raises(BusinessRuleError, match="already decided"):
        deeds.decide_adjustment(
            big, approve=False, checker=checker, community_ids=community, note="no", now=now
        )
    assert ledger.check() == []


def test_adjustment_rules(db, now, make_volunteer, make_user, make_community):
    person = make_volunteer(points=10)
    maker = make_user(communities=[person.community])
    scope = {person.community_id}
    with pytest.raises(InvalidInput, match="reason"):
        deeds.propose_adjustment(
            person, 5, reason=" ", maker=maker, community_ids=scope, idempotency_key="r", now=now
        )
    with pytest.raises(InvalidAmount):
        deeds.propose_adjustment(
            person, 0, reason="x", maker=maker, community_ids=scope, idempotency_key="z", now=now
        )
    with pytest.raises(InsufficientPoints):
        deeds.propose_adjustment(
            person,
            -11,
            reason="扣分",
            maker=maker,
            community_ids=scope,
            idempotency_key="n",
            now=now,
        )
    stranger = make_user(communities=[make_community()], phone="13900000666")
    with pytest.raises(NotPermitted):
        deeds.propose_adjustment(
            person,
            5,
            reason="x",
            maker=stranger,
            community_ids={stranger.staff_communities[0].community_id},
            idempotency_key="o",
            now=now,
        )
    # The same key again returns the first, posting nothing twice.
    first = deeds.propose_adjustment(
        person, 5, reason="补发", maker=maker, community_ids=scope, idempotency_key="k", now=now
    )
    again = deeds.propose_adjustment(
        person, 5, reason="补发", maker=maker, community_ids=scope, idempotency_key="k", now=now
    )
    assert again.id == first.id and ledger.balance(ledger.wallet_for(person)) == 15


def test_a_rejection_needs_a_note_and_posts_nothing(db, now, make_volunteer, make_user):
    person = make_volunteer()
    maker = make_user(communities=[person.community])
    checker = make_user(communities=[person.community], phone="13900000555")
    big = deeds.propose_adjustment(
        person, 500, reason="补录", maker=maker, community_ids=None, idempotency_key="x", now=now
    )
    with pytest.raises(InvalidInput):
        deeds.decide_adjustment(
            big, approve=False, checker=checker, community_ids=None, note="", now=now
        )
    deeds.decide_adjustment(
        big, approve=False, checker=checker, community_ids=None, note="没有记录", now=now
    )
    assert big.status == "rejected" and ledger.find_wallet(person).balance == 0


def test_a_big_adjustment_past_the_budget_needs_an_admin(
    db, now, make_community, make_volunteer, make_user
):
    community = make_community(budget=100)
    person = make_volunteer(community=community)
    maker = make_user(communities=[community])
    checker = make_user(communities=[community], phone="13900000444")
    big = deeds.propose_adjustment(
        person, 300, reason="补录", maker=maker, community_ids=None, idempotency_key="y", now=now
    )
    with pytest.raises(BudgetExceeded):
        deeds.decide_adjustment(
            big, approve=True, checker=checker, community_ids=None, note="", now=now
        )


def test_a_correction_of_last_month_counts_there_while_the_month_is_open(
    db, now, make_volunteer, make_user
):
    """补记上月漏记: the points count on last month's board and statement, not as this
    month's (where they lifted a resident to #1 of a board they did not earn in); once last
    month's statement is published, a correction counts in this month (issue 19)."""
    from app.points import rankings, statements

    person = make_volunteer(points=10)
    neighbour = make_volunteer(community=person.community, name="李娜", points=50)
    scope = {person.community_id}
    maker = make_user(communities=[person.community])
    checker = make_user(communities=[person.community], phone="13900000778")
    last, this = ledger.previous_month(now), ledger.period_keys(now)[0]

    small = deeds.propose_adjustment(
        person,
        100,
        reason="补记上月义诊",
        maker=maker,
        community_ids=scope,
        idempotency_key="lm1",
        now=now,
        for_last_month=True,
    )
    assert small.status == "posted" and small.counts_in == last
    wallet = ledger.wallet_for(person)
    assert ledger.balance(wallet) == 110  # spendable at once
    assert ledger.period_total(wallet, last) == 100 and ledger.period_total(wallet, this) == 10
    board = rankings.board(rankings.Scope("community", person.community_id), "month", now)
    assert [line.earned for line in board] == [50, 10]  # this month: still behind 李娜
    assert ledger.check() == []
    month = last.removeprefix("M")
    lines = statements.generate(person.community, month, actor=maker, now=now).lines
    assert [(line["name"], line["earned_total"]) for line in lines] == [(person.name, 100)]
    assert neighbour.name not in [line["name"] for line in lines]

    # A big one waits for a second person; last month is published meanwhile: it counts now.
    big = deeds.propose_adjustment(
        person,
        300,
        reason="补记上月巡逻",
        maker=maker,
        community_ids=scope,
        idempotency_key="lm2",
        now=now,
        for_last_month=True,
    )
    assert big.status == "pending" and big.counts_in == last
    statements.publish(
        statements.generate(person.community, month, actor=maker, now=now), actor=maker, now=now
    )
    deeds.decide_adjustment(
        big, approve=True, checker=checker, community_ids=scope, note="", now=now
    )
    assert big.counts_in is None and ledger.period_total(wallet, this) == 310
    assert ledger.period_total(wallet, last) == 100  # the published month did not change
    with pytest.raises(BusinessRuleError, match="published"):
        deeds.propose_adjustment(
            person,
            5,
            reason="再补",
            maker=maker,
            community_ids=scope,
            idempotency_key="lm3",
            now=now,
            for_last_month=True,
        )
    assert ledger.check() == []


def test_points_count_only_in_this_month_or_an_earlier_one(db, now, make_volunteer):
    person = make_volunteer()
    issuance = ledger.issuance_account(person.community)
    legs = [ledger.Leg(issuance, -5), ledger.Leg(ledger.wallet_for(person), 5)]
    for wrong in ("M2099-01", "2026-10", "M2026-13", "Y2026"):
        with pytest.raises(InvalidInput, match="this month or an earlier"):
            ledger.post(kind="award", legs=legs, idempotency_key=wrong, now=now, counts_in=wrong)
