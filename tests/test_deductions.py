"""Deductions (扣分, issue 21): staff only, with a reason and evidence, limited by the rule,
never below zero — what the wallet lacks is owed (taken from the next earnings, once) or
waived as the rule says; shown in the statement and open to objection; undone by staff."""

import pytest
import sqlalchemy as sa

from app.core.errors import BusinessRuleError, InvalidInput, NotFound
from app.models import Deduction, OutboxMessage
from app.points import awards, deductions, deeds, ledger, statements
from tests.conftest import run_threads


def _rule(staff, now, *, points=20, owe=False, **limits):
    return deeds.create_rule(
        deeds.RuleFields(
            title="高空抛物",
            category="safety",
            points=points,
            deducts=True,
            owe_beyond_balance=owe,
            **limits,
        ),
        community=None,
        actor=staff,
        now=now,
    )


@pytest.fixture
def worker(make_user):
    return make_user(kind="admin", communities=[])


def _deduct(rule, person, worker, now, key="k1", reason="从5楼扔下花盆"):
    return deductions.deduct(
        rule, person, reason=reason, key=key, actor=worker, community_ids=None, now=now
    )


def _award(person, points, now, key):
    return awards.award(
        person, points, reason="帮忙", idempotency_key=key, now=now, actor=None, source="test"
    )


def balance(person) -> int:
    return ledger.balance(ledger.wallet_for(person))


def test_a_deduction_takes_the_points_tells_why_and_lowers_the_month(
    db, now, worker, make_volunteer
):
    person = make_volunteer(name="赵强", points=50)
    rule = _rule(worker, now)
    found = _deduct(rule, person, worker, now)
    assert (found.taken, found.owed, balance(person)) == (20, 0, 30)
    assert _deduct(rule, person, worker, now).id == found.id  # the same form again
    assert balance(person) == 30
    notice = db.session.scalars(sa.select(OutboxMessage).filter_by(kind="deduction")).one()
    assert "高空抛物" in notice.body and "从5楼扔下花盆" in notice.body and "30" in notice.body
    assert ledger.earned_this_month(ledger.wallet_for(person), now) == 30  # 50 earned − 20
    (line,) = statements._lines(person.community, now.strftime("%Y-%m"))
    assert line["earned"]["deduction"] == -20 and line["earned_total"] == 30
    assert ledger.check() == []


def test_beyond_the_balance_it_is_waived_unless_the_rule_says_owed(db, now, worker, make_volunteer):
    waived = make_volunteer(points=5)
    found = _deduct(_rule(worker, now), waived, worker, now)
    assert (found.taken, found.owed, balance(waived)) == (5, 0, 0)
    assert (
        "免除"
        in db.session.scalars(sa.select(OutboxMessage.body).filter_by(kind="deduction")).one()
    )

    owing = make_volunteer(points=5)
    debt = _deduct(_rule(worker, now, owe=True), owing, worker, now, key="k2")
    assert (debt.taken, debt.owed, balance(owing)) == (5, 15, 0)
    _award(owing, 10, now, "a1")  # all ten go to the debt
    db.session.refresh(debt)
    assert (debt.taken, debt.owed, balance(owing)) == (15, 5, 0)
    _award(owing, 10, now, "a2")
    db.session.refresh(debt)
    assert (debt.taken, debt.owed, balance(owing)) == (20, 0, 5)
    _award(owing, 10, now, "a2")  # a replayed award collects nothing again
    assert balance(owing) == 5
    notice = db.session.scalars(
        sa.select(OutboxMessage.body)
        .filter_by(person_id=owing.id, kind="points_earned")
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert "5 分用于抵扣" in notice
    assert ledger.check() == []


def test_the_rules_limits_scope_and_evidence_hold(db, now, worker, make_volunteer, make_user):
    person = make_volunteer(points=100)
    rule = _rule(worker, now, daily_limit=1)
    _deduct(rule, person, worker, now)
    with pytest.raises(BusinessRuleError):
        _deduct(rule, person, worker, now, key="k2")
    assert balance(person) == 80
    elsewhere = make_user(communities=None)  # staff of another community
    with pytest.raises(NotFound):
        deductions.deduct(
            rule,
            person,
            reason="x",
            key="k3",
            actor=elsewhere,
            community_ids={elsewhere.staff_communities[0].community_id},
            now=now,
        )
    with pytest.raises(InvalidInput):
        _deduct(rule, person, worker, now, key="k4", reason="  ")
    photo_rule = _rule(worker, now, evidence_required=True)
    with pytest.raises(InvalidInput, match="照片"):
        _deduct(photo_rule, person, worker, now, key="k5")
    # A deduction rule awards nothing, and an award rule cannot become a deduction.
    with pytest.raises(BusinessRuleError):
        deeds.award_many(
            rule, [person], batch_key="b", note="", actor=worker, community_ids=None, now=now
        )
    award_rule = deeds.create_rule(
        deeds.RuleFields(title="扶老人", category="other", points=5),
        community=None,
        actor=worker,
        now=now,
    )
    with pytest.raises(InvalidInput):
        deeds.update_rule(
            award_rule,
            deeds.RuleFields(title="扶老人", category="other", points=5, deducts=True),
            actor=worker,
            now=now,
        )


def test_undoing_gives_back_what_was_taken_and_forgives_the_rest(
    db, now, worker, make_volunteer, make_community
):
    person = make_volunteer(points=5)
    debt = _deduct(_rule(worker, now, owe=True), person, worker, now)
    _award(person, 10, now, "a1")
    db.session.refresh(debt)
    assert (debt.taken, debt.owed, balance(person)) == (15, 5, 0)
    person.community.monthly_budget = 1  # spent: undoing is no new issuing and still goes
    deductions.reverse(debt, reason="经查不是他", actor=worker, now=now)
    assert (debt.status, debt.owed, balance(person)) == ("reversed", 0, 15)
    with pytest.raises(BusinessRuleError):
        deductions.reverse(debt, reason="再来", actor=worker, now=now)
    person.community.monthly_budget = None
    _award(person, 10, now, "a2")
    assert balance(person) == 25  # nothing more is collected
    assert ledger.check() == []


def test_a_published_deduction_can_be_objected_to(db, now, worker, make_volunteer, make_user):
    person = make_volunteer(points=50)
    _deduct(_rule(worker, now), person, worker, now)
    staff = make_user(communities=[person.community])
    statement = statements.generate(person.community, now.strftime("%Y-%m"), actor=staff, now=now)
    statements.publish(statement, actor=staff, now=now)
    objection = statements.object_to(statement, person, "我没有扔东西", now=now)
    assert objection.status == "open"


def test_the_panel_deducts_with_a_photo_from_the_residents_page(
    client, db, now, worker, make_volunteer, make_user, login
):
    import io

    from PIL import Image

    from tests.conftest import csrf_from

    person = make_volunteer(name="赵强", points=50)
    rule = _rule(worker, now, evidence_required=True)
    staff = make_user(communities=[person.community])
    login(staff)
    page = client.get(f"/panel/deductions/new?person={person.id}")
    assert page.status_code == 200 and "高空抛物" in page.text
    picture = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 90, 90)).save(picture, "JPEG")
    form = {
        "csrf_token": csrf_from(page.text),
        "rule": rule.id,
        "reason": "监控拍到从5楼扔下花盆",
        "key": "form-1",
        "photo": (io.BytesIO(picture.getvalue()), "cctv.jpg"),
    }
    done = client.post(
        f"/panel/deductions/new?person={person.id}", data=form, content_type="multipart/form-data"
    )
    assert done.status_code == 302
    found = db.session.scalars(sa.select(Deduction)).one()
    assert found.photo and balance(person) == 30
    assert client.get(f"/panel/deductions/{found.id}/photo").status_code == 200
    listed = client.get("/panel/deductions")
    assert "监控拍到从5楼扔下花盆" in listed.text
    other = make_user(communities=None)
    client.post("/logout", data={"csrf_token": csrf_from(listed.text)})
    login(other)
    assert client.get(f"/panel/deductions/new?person={person.id}").status_code == 404
    assert client.get(f"/panel/deductions/{found.id}/photo").status_code == 404


@pytest.mark.committing
def test_two_earnings_at_once_collect_a_debt_once(committed_app, now):
    from app.core.database import commit_unit_of_work
    from app.core.extensions import db
    from app.people import org, people

    with committed_app.app_context():
        community = org.create_community("并发社区", street=org.get_or_create_street("街道"))
        person = people.create_person(
            name="赵强", phone="+8613800139001", community=community, now=now, actor=None,
            source="test",
        )  # fmt: skip
        admin = people.create_user(
            kind="admin", name="管理员", phone="+8613900139999", password="correct horse",
            communities=[], now=now, actor=None, source="test",
        )  # fmt: skip
        rule = _rule(admin, now, points=15, owe=True)
        _deduct(rule, person, admin, now)
        person_id = person.id
        commit_unit_of_work()
        db.session.remove()

    def earn(n: int):
        with committed_app.app_context():
            try:
                _award(people.get(person_id), 10, now, f"earn-{n}")
                commit_unit_of_work()
                return "earned"
            finally:
                db.session.remove()

    assert run_threads(2, earn) == ["earned", "earned"]
    with committed_app.app_context():
        debt = db.session.scalars(sa.select(Deduction)).one()
        assert (debt.taken, debt.owed) == (15, 0)
        assert balance(people.get(person_id)) == 5
        assert ledger.check() == []
