"""Good deeds residents report themselves (issue 21, first part): by text or by the staff
inbox, awarded once under a deed rule with its limits, or declined with a reason the
resident is told; one decision when two staff decide at once."""

import pytest
import sqlalchemy as sa

from app.core.errors import BusinessRuleError, InvalidInput, NotPermitted
from app.models import DeedReport, OutboxMessage
from app.points import deed_reports, deeds, ledger
from tests.conftest import csrf_from, run_threads
from tests.test_chat_sms import messages, text


@pytest.fixture
def rule(db, now, make_user):
    staff = make_user(kind="admin", communities=[])
    return deeds.create_rule(
        deeds.RuleFields(title="帮助邻里", category="other", points=10, daily_limit=1),
        community=None,
        actor=staff,
        now=now,
    )


def test_a_deed_reported_by_text_is_awarded_once_from_the_inbox(
    client, db, now, app_clock, gateway_token, rule, make_volunteer, make_user, login
):
    elder = make_volunteer(name="王秀英", phone="+8613800138000")
    (reply,) = messages(text(client, elder.phone, "好人好事 帮3号楼王奶奶买菜送到家"))
    assert "谢谢您" in reply
    (report,) = db.session.scalars(sa.select(DeedReport)).all()
    assert (report.text, report.source, report.status) == (
        "帮3号楼王奶奶买菜送到家",
        "sms",
        "pending",
    )
    staff = make_user(communities=[elder.community], name="李社工")
    login(staff)
    inbox = client.get("/panel/approvals")
    assert "帮3号楼王奶奶买菜送到家" in inbox.text
    token = csrf_from(inbox.text)
    form = {"csrf_token": token, "decision": "approve", "rule": rule.id}
    assert client.post(f"/panel/deed-reports/{report.id}", data=form).status_code == 302
    assert ledger.balance(ledger.wallet_for(elder)) == 10
    assert report.status == "approved" and report.transaction_id is not None
    # Sent again (a double click, a second worker's stale page): nothing more.
    client.post(f"/panel/deed-reports/{report.id}", data=form)
    assert ledger.balance(ledger.wallet_for(elder)) == 10
    notice = db.session.scalars(
        sa.select(OutboxMessage).filter_by(person_id=elder.id, kind="points_earned")
    ).one()
    assert "帮助邻里" in notice.body and "10" in notice.body
    assert ledger.check() == []


def test_a_declined_deed_is_told_with_its_reason_and_pays_nothing(
    db, now, rule, make_volunteer, make_user
):
    elder = make_volunteer(name="王秀英")
    report = deed_reports.report(elder, "扶老人过马路", now=now, source="web")
    staff = make_user(communities=[elder.community])
    with pytest.raises(InvalidInput):
        deed_reports.decline(report, reason=" ", actor=staff, community_ids=None, now=now)
    deed_reports.decline(
        report, reason="没有说明时间地点", actor=staff, community_ids=None, now=now
    )
    assert report.status == "declined"
    notice = db.session.scalars(sa.select(OutboxMessage).filter_by(kind="deed_report")).one()
    assert notice.body == "邻里：您报告的好人好事（扶老人过马路）未获积分。原因：没有说明时间地点"
    with pytest.raises(BusinessRuleError, match="处理过"):
        deed_reports.approve(report, rule, actor=staff, community_ids=None, now=now)
    assert ledger.find_wallet(elder) is None or ledger.balance(ledger.wallet_for(elder)) == 0


def test_the_rules_limit_holds_and_a_refused_award_leaves_the_report_waiting(
    db, now, rule, make_volunteer, make_user
):
    elder = make_volunteer()
    staff = make_user(communities=[elder.community])
    first = deed_reports.report(elder, "买菜", now=now, source="web")
    second = deed_reports.report(elder, "又买菜", now=now, source="web")
    waiting = deed_reports.pending({elder.community_id})
    assert [(w.report.id, w.same_day) for w in waiting] == [(first.id, 2), (second.id, 2)]
    deed_reports.approve(first, rule, actor=staff, community_ids=None, now=now)
    with db.session.begin_nested() as attempt:  # the edge rolls the unit of work back
        with pytest.raises(BusinessRuleError, match="上限|limit"):
            deed_reports.approve(second, rule, actor=staff, community_ids=None, now=now)
        attempt.rollback()
    db.session.refresh(second)
    assert second.status == "pending"
    assert ledger.balance(ledger.wallet_for(elder)) == 10


def test_staff_decide_only_for_their_communities(
    client, db, now, rule, make_volunteer, make_user, make_community, login
):
    elder = make_volunteer()
    report = deed_reports.report(elder, "打扫楼道", now=now, source="web")
    elsewhere = make_community()
    other = make_user(communities=[elsewhere], phone="13900000931")
    with pytest.raises(NotPermitted):
        deed_reports.approve(report, rule, actor=other, community_ids={elsewhere.id}, now=now)
    login(other)
    page = client.get("/panel/approvals")
    assert "打扫楼道" not in page.text
    form = {"csrf_token": csrf_from(page.text), "decision": "approve", "rule": rule.id}
    assert client.post(f"/panel/deed-reports/{report.id}", data=form).status_code == 404
    assert report.status == "pending"


@pytest.mark.committing
def test_two_staff_deciding_at_once_one_wins(committed_app, now):
    from app.core.database import commit_unit_of_work
    from app.core.extensions import db
    from app.people import org, people

    with committed_app.app_context():
        community = org.create_community("并发社区", street=org.get_or_create_street("街道"))
        elder = people.create_person(
            name="王秀英", phone="+8613800139001", community=community, now=now, actor=None,
            source="test",
        )  # fmt: skip
        staff = [
            people.create_user(
                kind="staff",
                name=f"社工{n}",
                phone=f"+8613900139{n:03d}",
                password="correct horse",
                communities=[community],
                now=now,
                actor=None,
                source="test",
            )  # fmt: skip
            for n in range(2)
        ]
        rule = deeds.create_rule(
            deeds.RuleFields(title="帮助邻里", category="other", points=10),
            community=None,
            actor=staff[0],
            now=now,
        )
        report = deed_reports.report(elder, "帮忙修水管", now=now, source="web")
        ids = (report.id, rule.id, [s.id for s in staff], elder.id)
        commit_unit_of_work()
        db.session.remove()

    def decide(n: int):
        with committed_app.app_context():
            found = db.session.get(DeedReport, ids[0])
            actor = people.get(ids[2][n])
            try:
                if n == 0:
                    got = deeds.get_rule(ids[1], None)
                    deed_reports.approve(found, got, actor=actor, community_ids=None, now=now)
                else:
                    deed_reports.decline(
                        found, reason="重复报告", actor=actor, community_ids=None, now=now
                    )
                commit_unit_of_work()
                return "done"
            except BusinessRuleError:
                db.session.rollback()
                return "already decided"
            finally:
                db.session.remove()

    results = run_threads(2, decide)
    assert sorted(results) == ["already decided", "done"]
    with committed_app.app_context():
        found = db.session.get(DeedReport, ids[0])
        wallet = ledger.find_wallet(people.get(ids[3]))
        balance = ledger.balance(wallet) if wallet else 0
        assert (found.status, balance) in (("approved", 10), ("declined", 0))
        assert ledger.check() == []


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def test_a_deed_reported_on_the_phone_with_a_photo_is_seen_by_staff_only_and_paid(
    app, client, db, now, rule, make_volunteer, make_user, make_community
):
    import io

    from tests.test_volunteer_flow import sign_in_by_code

    elder = make_volunteer(name="王秀英", phone="+8613800138000")
    sign_in_by_code(client, db, elder.phone)
    page = client.get("/deeds/report")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    token = csrf_from(page.text)
    refused = client.post(
        "/deeds/report",
        data={
            "csrf_token": token,
            "text": "帮邻居修水管",
            "photo": (io.BytesIO(b"%PDF-1.4"), "a.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert (
        refused.status_code == 200
        and db.session.scalar(sa.select(sa.func.count()).select_from(DeedReport)) == 0
    )  # a PDF is not a photo: nothing is written, and the form says why
    sent = client.post(
        "/deeds/report",
        data={"csrf_token": token, "text": "帮邻居修水管", "photo": (io.BytesIO(_jpeg()), "a.jpg")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    (report,) = db.session.scalars(sa.select(DeedReport)).all()
    assert report.photo and report.source == "web"
    photo_url = f"/panel/deed-reports/{report.id}/photo"
    assert client.get(photo_url).status_code == 403  # the resident's phone is not the panel

    def desk(person):
        browser = app.test_client()
        page = browser.get("/login")
        browser.post(
            "/login",
            data={
                "login": person.phone,
                "password": "correct horse",
                "csrf_token": csrf_from(page.text),
            },
        )
        return browser

    other = make_user(communities=[make_community()], phone="13900000932")
    assert desk(other).get(photo_url).status_code == 404
    staff = make_user(communities=[elder.community], phone="13900000933")
    photo = desk(staff).get(photo_url)
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    assert "no-store" in photo.headers["Cache-Control"]
    deed_reports.approve(report, rule, actor=staff, community_ids=None, now=now)
    assert ledger.balance(ledger.wallet_for(elder)) == 10
