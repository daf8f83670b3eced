"""The panel's points pages: rules, awarding deeds to many, adjustments with a second
approver, the approvals inbox and the audit log — and who may open them."""

import re

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, DeedRule, Merchant
from app.people import org, people
from app.points import ledger
from tests.conftest import csrf_from


@pytest.fixture
def desk(db, now, make_community, make_user):
    """阳光社区 with a social worker signed in elsewhere; returns (community, staff)."""
    community = make_community("阳光社区")
    return community, make_user(communities=[community], name="李社工")


def rule_id(db, title: str) -> int:
    return db.session.scalar(sa.select(DeedRule.id).filter_by(title=title))


def test_award_a_deed_to_a_building_with_preview_and_a_safe_double_click(
    client, db, now, desk, login, app_clock
):
    community, staff = desk
    building_people = [
        people.create_person(
            name=f"住户{i}",
            phone=f"1380013810{i}",
            community=community,
            org_unit=org.place(community, "第1网格", "3号楼", "1单元", f"10{i}"),
            now=now,
            actor=None,
            source="test",
        )
        for i in range(3)
    ]
    building = building_people[0].org_unit.parent.parent
    login(staff)
    page = client.get("/panel/awards")
    assert "楼道清洁" in page.text and "3号楼" in page.text
    preview = client.post(
        "/panel/awards",
        data={
            "csrf_token": csrf_from(page.text),
            "rule": rule_id(db, "楼道清洁"),
            "how": "building",
            "building": building.id,
        },
    )
    assert "3 人将获得积分" in preview.text
    form = {
        "csrf_token": csrf_from(preview.text),
        "rule": rule_id(db, "楼道清洁"),
        "batch_key": re.search(r'name="batch_key" value="([^"]+)"', preview.text).group(1),
        "note": "",
        "person": [p.id for p in building_people],
    }
    done = client.post("/panel/awards/confirm", data=form)
    assert "3 人获得 5 积分" in done.text
    again = client.post("/panel/awards/confirm", data=form)  # a double click / a refresh
    assert "0 人获得" in again.text and "已发放过" in again.text
    assert [ledger.balance(ledger.wallet_for(p)) for p in building_people] == [5, 5, 5]
    # The daily limit of 1 now blocks a second award today.
    preview = client.post(
        "/panel/awards",
        data={
            "csrf_token": csrf_from(page.text),
            "rule": rule_id(db, "楼道清洁"),
            "how": "phones",
            "phones": "13800138100\n１３８００１３８１０１\n12345",
        },
    )
    assert "0 人将获得积分" in preview.text and "已达上限" in preview.text
    assert "12345" in preview.text  # the line that names nobody
    assert ledger.check() == []


def test_award_outside_your_communities_is_refused(client, db, now, desk, login, make_volunteer):
    community, staff = desk
    outsider = make_volunteer()
    login(staff)
    page = client.get("/panel/awards")
    preview = client.post(
        "/panel/awards",
        data={
            "csrf_token": csrf_from(page.text),
            "rule": rule_id(db, "楼道清洁"),
            "how": "phones",
            "phones": outsider.phone,
        },
    )
    assert "不在您负责的社区" in preview.text
    done = client.post(
        "/panel/awards/confirm",
        data={
            "csrf_token": csrf_from(preview.text),
            "rule": rule_id(db, "楼道清洁"),
            "batch_key": "x",
            "person": outsider.id,
        },
    )
    # A tampered id names nobody: no points and no name shown.
    assert ledger.find_wallet(outsider).balance == 0 and outsider.name not in done.text


def test_a_300_point_adjustment_waits_for_a_second_staff_member(
    app, client, db, now, desk, login, make_user, make_volunteer
):
    community, maker = desk
    person = make_volunteer(community=community, name="赵大爷")
    checker = make_user(communities=[community], name="王社工", phone="13900000123")
    login(maker)
    page = client.get(f"/panel/adjustments/new?person={person.id}")
    # A missing reason is named, and what was typed stays.
    response = client.post(
        f"/panel/adjustments/new?person={person.id}",
        data={
            "csrf_token": csrf_from(page.text),
            "person": person.id,
            "points": "300",
            "reason": "",
            "key": "k1",
        },
    )
    assert "请填写原因" in response.text or "A reason is required" in response.text
    assert 'value="300"' in response.text
    response = client.post(
        f"/panel/adjustments/new?person={person.id}",
        data={
            "csrf_token": csrf_from(page.text),
            "person": person.id,
            "points": "300",
            "reason": "补录上月义诊",
            "key": "k1",
        },
    )
    inbox = client.get(response.headers["Location"])
    assert "补录上月义诊" in inbox.text and "须由另一位工作人员审核" in inbox.text
    assert ledger.find_wallet(person).balance == 0
    client.post("/logout", data={"csrf_token": csrf_from(inbox.text)})
    login(checker)
    # The panel's home says what waits, and leads to it.
    home = client.get("/panel/").text
    tile = r'todo-count">{}</span>\s*<span class="todo-label">{}'
    assert re.search(tile.format(1, "笔积分调整待另一位工作人员审核"), home)
    assert re.search(tile.format(0, "条签到待审核"), home)
    assert "/panel/approvals#adj-title" in home
    inbox = client.get("/panel/approvals")
    adjustment_id = re.search(r"/panel/adjustments/(\d+)/decide", inbox.text).group(1)
    decided = client.post(
        f"/panel/adjustments/{adjustment_id}/decide",
        data={"csrf_token": csrf_from(inbox.text), "decision": "approve"},
        follow_redirects=True,
    )
    assert f"已批准：为 {person.name} 调整 +300 积分，已入账" in decided.text
    assert ledger.balance(ledger.wallet_for(person)) == 300
    log = client.get("/panel/audit?action=adjustment")
    assert "adjustment.propose" in log.text and "adjustment.approve" in log.text
    assert "李社工" in log.text and "王社工" in log.text
    csv = client.get("/panel/audit.csv?action=adjustment").data.decode()
    assert csv.startswith("\ufeff") and "adjustment.approve" in csv
    assert ledger.check() == []


def test_staff_make_rules_for_their_community(client, db, desk, login):
    community, staff = desk
    login(staff)
    page = client.get("/panel/rules/new")
    assert "全街道" not in page.text  # the street's rules are the administrator's
    response = client.post(
        "/panel/rules/new",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "照看留守儿童",
            "category": "other",
            "community": community.id,
            "points": "10",
            "monthly_limit": "4",
            "active": "y",
        },
    )
    assert response.status_code == 302
    rule = db.session.scalar(sa.select(DeedRule).filter_by(title="照看留守儿童"))
    assert rule.community_id == community.id and rule.monthly_limit == 4
    street_rule = rule_id(db, "楼道清洁")
    assert client.get(f"/panel/rules/{street_rule}/edit").status_code == 403


PANEL_PAGES = [
    "/panel/",
    "/panel/activities",
    "/panel/activities/new",
    "/panel/merchants",
    "/panel/rules",
    "/panel/rules/new",
    "/panel/awards",
    "/panel/approvals",
    "/panel/audit",
    "/panel/audit.csv",
    "/panel/dashboard",
    "/panel/residents",
    "/panel/residents.csv",
    "/panel/residents/new",
    "/panel/residents/import",
    "/panel/org",
    "/panel/teams",
]


@pytest.mark.parametrize("path", PANEL_PAGES)
def test_panel_pages_are_for_staff_only(client, db, login, make_volunteer, make_user, path):
    assert client.get(path).status_code == 302  # anonymous → sign in
    resident = make_volunteer()
    people.set_password(resident, "correct horse")
    login(resident)
    assert client.get(path).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
    shop = Merchant(name="某店", tier="community", category="理发")
    db.session.add(shop)
    db.session.flush()
    login(make_user("merchant", merchant=shop))
    assert client.get(path).status_code == 403


def test_staff_of_another_community_get_not_found(
    client,
    db,
    now,
    login,
    make_user,
    make_community,
    make_activity,
    make_merchant,
    make_volunteer,
):
    theirs = make_community()
    activity = make_activity(community=theirs)
    merchant, offer = make_merchant(communities=[theirs])
    person = make_volunteer(community=theirs)
    login(make_user(communities=[make_community()]))
    for path in [
        f"/panel/activities/{activity.id}",
        f"/panel/activities/{activity.id}/edit",
        f"/panel/activities/{activity.id}/screen",
        f"/panel/activities/{activity.id}/attendances.csv",
        f"/panel/merchants/{merchant.id}",
        f"/panel/merchants/{merchant.id}/offers/{offer.id}/edit",
        f"/panel/adjustments/new?person={person.id}",
    ]:
        assert client.get(path).status_code == 404, path


def test_the_audit_log_keeps_the_ip_and_cannot_be_changed(client, db, desk, login):
    from sqlalchemy.exc import DBAPIError

    community, staff = desk
    login(staff)
    page = client.get("/panel/rules/new")
    client.post(
        "/panel/rules/new",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "义务家教",
            "category": "culture",
            "community": community.id,
            "points": "10",
            "active": "y",
        },
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    event = db.session.scalar(sa.select(AuditEvent).filter_by(action="deed_rule.create"))
    assert event.ip == "198.51.100.9"
    with pytest.raises(DBAPIError), db.session.begin_nested():
        db.session.execute(sa.update(AuditEvent).values(reason="改写"))


def test_dashboard_draws_its_charts_as_svg(
    client, db, now, desk, login, app_clock, make_activity, make_volunteer, make_community
):
    from datetime import timedelta

    from app.activities import attendance

    community, staff = desk
    activity = make_activity(community=community, category="elderly_care", points=10)
    person = make_volunteer(community=community)
    attendance.check_in(activity, person, now=now)
    attendance.check_out(activity, person, now=now + timedelta(hours=1))
    login(staff)
    page = client.get("/panel/dashboard")
    assert page.status_code == 200
    # The charts carry no script of their own (only our file is loaded, for the filter).
    main = page.text.split("<main")[1]
    assert page.text.count("<svg") == 6 and main.count("<script") == 1
    assert re.search(r'<script src="/static/js/linli\.js\?v=[0-9a-f]{12}" defer></script>', main)
    assert "助老服务" in page.text  # hours by kind of service
    assert "每周积分" in page.text and "每月活跃志愿者" in page.text
    # This month stands apart as "so far"; the budget is a bar with its figure.
    assert "本月截至目前" in page.text
    assert "已发放 10；未设预算" in page.text  # no budget: the figure, no bar to fill
    community.monthly_budget = 40
    db.session.flush()
    page = client.get("/panel/dashboard")
    assert "10 / 40（25%）" in page.text and 'aria-label="已用预算的 25%"' in page.text
    other = make_community()
    assert client.get(f"/panel/dashboard?community={other.id}").status_code == 404
    assert client.get(f"/panel/dashboard?community={community.id}").status_code == 200


def _panel_routes(app):
    """Every panel route with its methods, ids filled with 1 (the role check comes first)."""
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("panel.") or rule.endpoint == "panel.dev_outbox":
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, url


def test_every_panel_route_refuses_residents_and_shop_operators(
    app, client, db, login, make_volunteer, make_user
):
    resident = make_volunteer()
    people.set_password(resident, "correct horse")
    shop = Merchant(name="某店", tier="community", category="理发")
    db.session.add(shop)
    db.session.flush()
    operator = make_user("merchant", merchant=shop)
    routes = list(_panel_routes(app))
    assert len(routes) > 40
    for who in (resident, operator):
        login(who)
        token = csrf_from(client.get("/").text)
        for method, url in routes:
            response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 403, (who.name, method, url, response.status_code)
        client.post("/logout", data={"csrf_token": token})


def test_audit_log_date_filters(client, db, app_clock, desk, login, make_volunteer):
    community, staff = desk
    make_volunteer(community=community, name="赵六")  # a person.create event, by nobody
    login(staff)
    page = client.get("/panel/rules/new")
    client.post(
        "/panel/rules/new",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "义务家教",
            "category": "culture",
            "community": community.id,
            "points": "10",
            "active": "y",
        },
    )
    today = app_clock().date().isoformat()
    assert "deed_rule.create" in client.get(f"/panel/audit?since={today}&until={today}").text
    assert "deed_rule.create" not in client.get("/panel/audit?since=2099-01-01").text
    assert "deed_rule.create" in client.get("/panel/audit?since=not-a-date").text


def test_a_correction_for_last_month_is_offered_while_the_month_is_open(
    client, db, now, desk, login, make_volunteer
):
    from app.points import statements

    community, staff = desk
    person = make_volunteer(community=community)
    login(staff)
    last = ledger.previous_month(now).removeprefix("M")
    page = client.get(f"/panel/adjustments/new?person={person.id}")
    assert f"补记 {last} 漏记：计入该月的排行和公示" in page.text
    response = client.post(
        f"/panel/adjustments/new?person={person.id}",
        data={
            "csrf_token": csrf_from(page.text),
            "person": person.id,
            "key": "form-lm",
            "points": "20",
            "reason": "补记上月",
            "for_last_month": "y",
        },
    )
    assert response.status_code == 302
    assert ledger.period_total(ledger.wallet_for(person), "M" + last) == 20
    statements.publish(
        statements.generate(community, last, actor=staff, now=now), actor=staff, now=now
    )
    assert "补记" not in client.get(f"/panel/adjustments/new?person={person.id}").text
