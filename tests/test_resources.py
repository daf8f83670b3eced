"""The resources list and working party members (issue 21): offers matched to needs within
their monthly capacity (a person takes it at once; a partner unit's operators take it and
are not paid in points); service posts taken up within their places (of two for the last
place, one wins); 在职党员报到 with the member's record and the community's report."""

import pytest
import sqlalchemy as sa

from app.core.errors import BusinessRuleError, NotPermitted
from app.models import MerchantOperator, OutboxMessage, PersonTag
from app.people import people
from app.points import ledger, needs, resources
from tests.conftest import csrf_from, run_threads
from tests.test_chat_sms import messages, text
from tests.test_needs import street  # noqa: F401 (the fixture)


def _offer(here, **fields):
    values = {"kind": "offer", "title": "律师咨询", "capacity": 1, "capacity_unit": "hours"}
    return resources.create(
        here["community"],
        resources.ResourceFields(**{**values, **fields}),
        actor=here["staff"],
        now=here["now"],
    )


@pytest.fixture
def here(street, now):  # noqa: F811
    return {**street, "now": now}


def test_a_persons_offer_takes_a_matched_need_within_its_capacity(db, now, here, make_volunteer):
    lawyer = make_volunteer(community=here["community"], name="周律师")
    offer = _offer(here, provider_phone=lawyer.phone)
    first = needs.post(
        here["elder"], "房子继承想咨询律师", kind=here["kind"], now=now, source="web"
    )
    resources.match(first, offer, actor=here["staff"], now=now)
    assert (first.status, first.taker_id, first.resource_id) == ("taken", lawyer.id, offer.id)
    assert (
        "李社工"
        in db.session.scalars(
            sa.select(OutboxMessage.body).filter_by(person_id=lawyer.id, kind="need")
        ).one()
    )
    neighbour = make_volunteer(community=here["community"], name="邻居")
    second = needs.post(neighbour, "也想咨询", kind=here["kind"], now=now, source="web")
    with pytest.raises(BusinessRuleError, match="1"):
        resources.match(second, offer, actor=here["staff"], now=now)
    with pytest.raises(NotPermitted):  # a volunteer is no triage
        resources.match(second, offer, actor=here["volunteer"], now=now)
    assert resources.used_this_month(offer, now) == 1


def test_a_units_offer_goes_to_its_operators_who_take_it_by_text_unpaid(
    client, db, now, here, gateway_token, make_merchant, make_user
):
    clinic, _offer_row = make_merchant(communities=[here["community"]], name="幸福诊所")
    nurse = make_user(kind="merchant", merchant=clinic, name="诊所护士", phone="+8613800139555")
    offer = _offer(here, title="上门量血压", provider_merchant_id=clinic.id, capacity=None)
    need = needs.post(here["elder"], "想请人上门量血压", kind=here["kind"], now=now, source="web")
    resources.match(need, offer, actor=here["staff"], now=now)
    assert (need.status, need.merchant_id) == ("open", clinic.id)
    with pytest.raises(BusinessRuleError, match="共建单位|合伙"):
        needs.take(need, here["volunteer"], now=now, source="web")
    (taken,) = messages(text(client, nurse.phone, f"接单 {need.id}"))
    assert "完成" in taken
    (finished,) = messages(text(client, nurse.phone, f"完成 {need.id} 血压正常"))
    assert "确认" in finished
    (confirmed,) = messages(text(client, here["elder"].phone, "1"))
    db.session.refresh(need)
    assert need.status == "confirmed" and need.transaction_id is None  # a unit is not paid
    assert ledger.find_wallet(nurse) is None or ledger.balance(ledger.wallet_for(nurse)) == 0
    assert (
        db.session.scalar(sa.select(MerchantOperator.person_id).filter_by(merchant_id=clinic.id))
        == nurse.id
    )


def test_a_post_is_taken_up_within_its_places(db, now, here, make_volunteer):
    post = _offer(here, kind="post", title="周末楼道巡查", capacity=1, capacity_unit="people")
    volunteer = here["volunteer"]
    held = resources.claim(post, volunteer, now=now)
    assert post.claimed == 1
    with pytest.raises(BusinessRuleError):
        resources.claim(post, volunteer, now=now)
    with pytest.raises(BusinessRuleError, match="名额|占满"):
        resources.claim(post, here["elder"], now=now)
    stranger = make_volunteer(name="外社区")
    with pytest.raises(NotPermitted):
        resources.claim(post, stranger, now=now)
    resources.release(held, volunteer, now=now)
    resources.claim(post, here["elder"], now=now)
    assert post.claimed == 1
    bigger = resources.ResourceFields(kind="post", title="周末楼道巡查", capacity=2)
    resources.update(post, bigger, actor=here["staff"], now=now)
    resources.claim(post, volunteer, now=now)
    smaller = resources.ResourceFields(kind="post", title="周末楼道巡查", capacity=1)
    with pytest.raises(BusinessRuleError):  # two hold it: not fewer places than that
        resources.update(post, smaller, actor=here["staff"], now=now)


def test_a_working_party_member_reports_and_the_community_sees_what_they_did(
    client, db, now, here, login
):
    from tests.test_volunteer_flow import sign_in_by_code

    volunteer = here["volunteer"]
    post = _offer(here, kind="post", title="周末楼道巡查", capacity=3, capacity_unit="people")
    resources.claim(post, volunteer, now=now)
    need = needs.post(here["elder"], "换灯泡", kind=here["kind"], now=now, source="web")
    needs.take(need, volunteer, now=now, source="web")
    needs.done(need, volunteer, now=now, source="web")
    needs.confirm(need, here["elder"], now=now, source="web")
    sign_in_by_code(client, db, volunteer.phone)
    page = client.get("/party")
    assert page.status_code == 200
    done = client.post(
        "/party",
        data={
            "csrf_token": csrf_from(page.text),
            "employer": '=HYPERLINK("x")区税务局',
            "branch": "第三支部",
        },
    )
    assert done.status_code == 302
    assert "在职党员" in [
        t.tag for t in db.session.scalars(sa.select(PersonTag).filter_by(person_id=volunteer.id))
    ]
    record = resources.record_of(people.get(volunteer.id), now)
    assert (record.posts, record.needs_solved, record.points) == (["周末楼道巡查"], 1, 20)
    mine = client.get("/party")
    assert "周末楼道巡查" in mine.text
    client.post("/logout", data={"csrf_token": csrf_from(mine.text)})
    login(here["staff"])
    listed = client.get("/panel/party-members")
    assert "李小哥" in listed.text and "周末楼道巡查" in listed.text
    sheet = client.get("/panel/party-members.csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in sheet  # Excel shows it as text, never runs it


@pytest.mark.committing
def test_two_taking_up_the_last_place_at_once_one_wins(committed_app, now):
    from app.core.database import commit_unit_of_work
    from app.core.extensions import db
    from app.people import org

    with committed_app.app_context():
        community = org.create_community("并发社区", street=org.get_or_create_street("街道"))
        members = [
            people.create_person(
                name=f"党员{n}",
                phone=f"+8613900139{n:03d}",
                community=community,
                now=now,
                actor=None,
                source="test",
            )  # fmt: skip
            for n in range(2)
        ]
        admin = people.create_user(
            kind="admin", name="管理员", phone="+8613900139999", password="correct horse",
            communities=[], now=now, actor=None, source="test",
        )  # fmt: skip
        post = resources.create(
            community,
            resources.ResourceFields(kind="post", title="文明劝导岗", capacity=1),
            actor=admin,
            now=now,
        )
        ids = (post.id, [m.id for m in members])
        commit_unit_of_work()
        db.session.remove()

    def take_up(n: int):
        with committed_app.app_context():
            try:
                resources.claim(resources.get(ids[0], None), people.get(ids[1][n]), now=now)
                commit_unit_of_work()
                return "holds"
            except BusinessRuleError:
                db.session.rollback()
                return "full"
            finally:
                db.session.remove()

    assert sorted(run_threads(2, take_up)) == ["full", "holds"]
    with committed_app.app_context():
        assert resources.get(ids[0], None).claimed == 1
        roomy = resources.create(
            None,
            resources.ResourceFields(kind="post", title="周末巡查", capacity=5),
            actor=people.get(ids[1][0]),
            now=now,
        )
        ids = (roomy.id, [ids[1][1], ids[1][1]])  # one person, a double tap
        commit_unit_of_work()
        db.session.remove()
    assert sorted(run_threads(2, take_up)) == ["full", "holds"]
    with committed_app.app_context():
        assert resources.get(ids[0], None).claimed == 1
