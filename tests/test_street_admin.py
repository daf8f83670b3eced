"""Street administration in the panel (issue 16): red partners, their operators, staff
accounts, one-time set-password links, communities — with scopes an attacker cannot bend."""

import re

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, Merchant, MerchantOperator, OutboxMessage, PasswordLink
from app.partners import partners, personal_codes, redemptions
from app.people import org, people
from tests.conftest import csrf_from

LINK = re.compile(r"/set-password/([\w-]+)")


def token_of(client, page="/panel/merchants") -> str:
    return csrf_from(client.get(page).text)


def audited(db, action: str) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def last_link(db, person) -> str:
    message = db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.person_id == person.id, OutboxMessage.kind == "password_link")
        .order_by(OutboxMessage.id.desc())
    ).first()
    return LINK.search(message.body).group(0)


@pytest.fixture
def admin(make_user):
    return make_user("admin", communities=[], name="街道管理员")


def partner_form(token, **fields):
    data = {
        "csrf_token": token,
        "name": "老王面馆",
        "tier": "community",
        "category": "餐饮",
        "new_category": "",
        "address": "幸福路8号",
        "opening_hours": "10:00-21:00",
        "contact_name": "王老板",
        "contact_phone": "13912345678",
        "description": "手工拉面",
    }
    data.update(fields)
    return data


# --- partners -----------------------------------------------------------------------------


def test_the_administrator_creates_a_partner_with_an_operator_who_sets_a_password(
    client, db, app, make_community, make_volunteer, admin, login
):
    east = make_community("东社区")
    login(admin)
    response = client.post(
        "/panel/merchants/new", data=partner_form(token_of(client), communities=[str(east.id)])
    )
    assert response.status_code == 302
    merchant = partners.find_by_name("老王面馆")
    assert (merchant.status, merchant.contact_phone, [c.name for c in merchant.communities]) == (
        "active",
        "+8613912345678",
        ["东社区"],
    )
    assert audited(db, "merchant.create") == 1
    # An operator by phone: a new account without a password, and a link to their phone.
    page = client.get(f"/panel/merchants/{merchant.id}")
    client.post(
        f"/panel/merchants/{merchant.id}/operators",
        data={"csrf_token": csrf_from(page.text), "op-name": "王小二", "op-phone": "13955556666"},
    )
    operator = people.find_by_phone("13955556666")
    assert operator.has_role("merchant") and operator.password_hash is None
    link = last_link(db, operator)
    assert "王小二" in client.get(f"/panel/merchants/{merchant.id}").text
    # The link opens a form (opening it uses nothing up); saving signs the operator in.
    client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    form = client.get(link)
    assert form.status_code == 200 and "设置密码" in form.text
    mismatch = client.post(
        link,
        data={"csrf_token": csrf_from(form.text), "password": "noodles-2026", "confirm": "x"},
    )
    assert "两次输入的密码不一致" in mismatch.text
    done = client.post(
        link,
        data={
            "csrf_token": csrf_from(form.text),
            "password": "noodles-2026",
            "confirm": "noodles-2026",
        },
    )
    assert done.status_code == 302 and done.headers["Location"].startswith("/m/")
    assert client.get(link).status_code == 410  # once only
    # The operator redeems a resident's code at the new shop.
    volunteer = make_volunteer(community=east, points=50)
    issued = personal_codes.issue(volunteer, now=app.config["LINLI_CLOCK"]())
    redeem = client.get(f"/m/{merchant.id}/redeem")
    sale = client.post(
        f"/m/{merchant.id}/redeem",
        data={"csrf_token": csrf_from(redeem.text), "code": issued.digits},
    )
    assert sale.status_code == 302 and "/sale" in sale.headers["Location"]


def test_partner_form_errors_name_the_field_and_write_nothing(client, db, admin, login):
    login(admin)
    token = token_of(client)
    response = client.post("/panel/merchants/new", data=partner_form(token, communities=[]))
    assert "社区级合伙人至少要服务一个社区" in response.text
    response = client.post(
        "/panel/merchants/new", data=partner_form(token, tier="street", contact_phone="12")
    )
    assert response.status_code == 200
    (tag,) = re.findall(r'<input[^>]*id="contact_phone"[^>]*>', response.text)
    assert 'aria-invalid="true"' in tag
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Merchant)) == 0


def test_a_new_category_joins_the_list_and_street_partners_serve_new_communities(
    client, db, make_community, admin, login
):
    make_community("东社区")
    login(admin)
    client.post(
        "/panel/merchants/new",
        data=partner_form(token_of(client), tier="street", name="惠民超市", new_category="便利店"),
    )
    merchant = partners.find_by_name("惠民超市")
    assert merchant.category == "便利店" and "便利店" in partners.categories()
    assert [c.name for c in merchant.communities] == ["东社区"]
    org.add_community("西社区", street_name="测试街道", actor=admin, now=merchant.created_at)
    db.session.expire(merchant)
    assert sorted(c.name for c in merchant.communities) == ["东社区", "西社区"]


def test_pause_hides_offers_and_stops_redemptions_then_resume_and_end(
    client, db, now, make_merchant, make_volunteer, make_user, admin, login
):
    merchant, offer = make_merchant(name="老张理发店")
    volunteer = make_volunteer(community=merchant.communities[0], points=100)
    operator = make_user("merchant", merchant=merchant, name="店员")
    login(admin)
    token = token_of(client)
    url = f"/panel/merchants/{merchant.id}/status"
    client.post(url, data={"csrf_token": token, "action": "pause", "note": ""})
    assert merchant.status == "active"  # a pause needs a reason
    client.post(url, data={"csrf_token": token, "action": "pause", "note": "卫生检查整改"})
    assert merchant.status == "paused" and merchant.status_note == "卫生检查整改"
    issued = personal_codes.issue(volunteer, now=now)
    with pytest.raises(Exception, match="卫生检查整改"):
        redemptions.start(issued.digits, merchant, operator=operator, now=now)
    # The code was not used up: it still works once the shop is back.
    client.post("/logout", data={"csrf_token": token})
    login(operator)
    home = client.get(f"/m/{merchant.id}/").text
    assert "卫生检查整改" in home and "button-huge" not in home
    assert "卫生检查整改" in client.get(f"/m/{merchant.id}/redeem").text
    client.post("/logout", data={"csrf_token": csrf_from(home)})
    login(admin)
    token = token_of(client)
    client.post(url, data={"csrf_token": token, "action": "resume"})
    assert merchant.status == "active"
    assert (
        redemptions.start(issued.digits, merchant, operator=operator, now=now).person == volunteer
    )
    client.post(url, data={"csrf_token": token, "action": "end", "note": "合同到期"})
    assert merchant.status == "ended"
    assert [audited(db, f"merchant.{a}") for a in ("pause", "resume", "end")] == [1, 1, 1]
    # Ended: no new offer, no new operator; the history stays.
    from app.core.errors import BusinessRuleError
    from app.partners import offers

    with pytest.raises(BusinessRuleError):
        offers.create_offer(
            merchant,
            offers.OfferFields(title="新项目", kind="service", points_cost=10),
            actor=admin,
            by_staff=True,
            now=now,
            source="test",
        )
    assert client.get(f"/panel/merchants/{merchant.id}").status_code == 200
    client.post(
        f"/panel/merchants/{merchant.id}/operators",
        data={"csrf_token": token, "op-name": "新人", "op-phone": "13977778888"},
    )
    assert people.find_by_phone("13977778888") is None


def test_a_worker_proposes_street_partners_and_manages_only_their_own(
    client, db, make_community, make_merchant, make_user, admin, login
):
    east, west = make_community("东社区"), make_community("西社区")
    worker = make_user(communities=[east])
    login(worker)
    token = token_of(client)
    client.post("/panel/merchants/new", data=partner_form(token, communities=[str(east.id)]))
    assert partners.find_by_name("老王面馆").status == "active"
    # A community the worker does not work for is refused (an id typed by hand).
    response = client.post(
        "/panel/merchants/new",
        data=partner_form(token, name="越权面馆", communities=[str(east.id), str(west.id)]),
    )
    assert partners.find_by_name("越权面馆") is None
    client.post("/panel/merchants/new", data=partner_form(token, name="大超市", tier="street"))
    big = partners.find_by_name("大超市")
    assert big.status == "proposed"
    # The worker cannot approve it, nor edit it.
    client.post(
        f"/panel/merchants/{big.id}/status", data={"csrf_token": token, "action": "approve"}
    )
    assert big.status == "proposed"
    assert client.get(f"/panel/merchants/{big.id}/edit").status_code == 403
    # Another community's partner is not even visible.
    theirs, _offer = make_merchant(communities=[west], name="西边理发")
    assert client.get(f"/panel/merchants/{theirs.id}").status_code == 404
    assert client.get(f"/panel/merchants/{theirs.id}/edit").status_code == 404
    response = client.post(
        f"/panel/merchants/{theirs.id}/status",
        data={"csrf_token": token, "action": "pause", "note": "x"},
    )
    assert response.status_code == 404 and theirs.status == "active"
    # The administrator approves.
    client.post("/logout", data={"csrf_token": token})
    login(admin)
    client.post(
        f"/panel/merchants/{big.id}/status",
        data={"csrf_token": token_of(client), "action": "approve"},
    )
    assert big.status == "active"


def test_partner_list_is_searchable_and_paged(client, db, make_merchant, admin, login):
    for n in range(30):
        make_merchant(name=f"商家{n:02d}号")
    make_merchant(name="老王面馆")
    login(admin)
    first = client.get("/panel/merchants").text
    assert "第 1 / 2 页（共 31 条）" in first
    second = client.get("/panel/merchants?page=2").text
    assert "商家29号" in second or "老王面馆" in second
    found = client.get("/panel/merchants?q=面馆").text
    assert "老王面馆" in found and "商家01号" not in found
    assert client.get("/panel/merchants?page=99999").status_code == 200


def test_one_operator_for_a_chain_and_removing_ends_their_sessions(
    client, db, make_merchant, admin, login
):
    one, _ = make_merchant(name="连锁一店")
    two, _ = make_merchant(name="连锁二店")
    login(admin)
    token = token_of(client)
    for shop in (one, two):
        client.post(
            f"/panel/merchants/{shop.id}/operators",
            data={"csrf_token": token, "op-name": "店长", "op-phone": "13966667777"},
        )
    person = people.find_by_phone("13966667777")
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(MerchantOperator.person_id == person.id))
        == 2
    )
    # One link only: the second shop did not send another (no password yet → it did; the
    # first link stopped working).
    links = db.session.scalars(
        sa.select(PasswordLink).where(PasswordLink.person_id == person.id)
    ).all()
    assert len(links) == 2 and sum(link.expires_at > link.created_at for link in links) == 1
    version = person.session_version
    client.post(
        f"/panel/merchants/{one.id}/operators/{person.id}/remove", data={"csrf_token": token}
    )
    assert person.has_role("merchant")  # still works for the second shop
    client.post(
        f"/panel/merchants/{two.id}/operators/{person.id}/remove", data={"csrf_token": token}
    )
    assert not person.has_role("merchant") and person.session_version > version


# --- staff --------------------------------------------------------------------------------


def test_the_administrator_creates_staff_who_set_their_own_password(
    client, db, make_community, admin, login
):
    east, west = make_community("东社区"), make_community("西社区")
    login(admin)
    page = client.get("/panel/staff")
    response = client.post(
        "/panel/staff",
        data={
            "csrf_token": csrf_from(page.text),
            "new-name": "新社工",
            "new-phone": "13911112222",
            "new-role": "staff",
            "new-communities": [str(east.id)],
        },
    )
    assert response.status_code == 302
    worker = people.find_by_phone("13911112222")
    assert worker.has_role("staff") and worker.password_hash is None
    assert people.visible_community_ids(worker) == {east.id}
    # The administrator never sees the link: it is not on any page they open.
    detail = client.get(response.headers["Location"]).text
    assert "/set-password/" not in detail
    link = last_link(db, worker)
    # Scope change, audited.
    client.post(
        f"/panel/staff/{worker.id}/scope",
        data={"csrf_token": csrf_from(detail), "communities": [str(east.id), str(west.id)]},
    )
    assert people.visible_community_ids(worker) == {east.id, west.id}
    assert audited(db, "staff.scope") == 1
    # A new link ends the old one.
    client.post(f"/panel/staff/{worker.id}/link", data={"csrf_token": csrf_from(detail)})
    assert client.get(link).status_code == 410
    fresh = last_link(db, worker)
    client.post("/logout", data={"csrf_token": csrf_from(detail)})
    form = client.get(fresh)
    client.post(
        fresh,
        data={
            "csrf_token": csrf_from(form.text),
            "password": "worker-pass-1",
            "confirm": "worker-pass-1",
        },
    )
    assert people.authenticate("13911112222", "worker-pass-1", now=worker.created_at) == worker


def test_switching_an_account_off_ends_its_sessions_and_its_links(
    client, db, make_community, make_user, admin, login
):
    worker = make_user(communities=[make_community()], name="要离职的社工")
    login(admin)
    page = client.get(f"/panel/staff/{worker.id}").text
    token = csrf_from(page)
    client.post(f"/panel/staff/{worker.id}/link", data={"csrf_token": token})
    link = last_link(db, worker)
    version = worker.session_version
    client.post(
        f"/panel/staff/{worker.id}/active", data={"csrf_token": token, "active": "0", "reason": ""}
    )
    assert worker.is_active_account  # a reason is required
    client.post(
        f"/panel/staff/{worker.id}/active",
        data={"csrf_token": token, "active": "0", "reason": "离职"},
    )
    assert not worker.is_active_account and worker.session_version > version
    assert client.get(link).status_code == 410
    # The administrator cannot switch themself off, nor the last administrator go.
    client.post(
        f"/panel/staff/{admin.id}/active", data={"csrf_token": token, "active": "0", "reason": "x"}
    )
    assert admin.is_active_account
    client.post(f"/panel/staff/{worker.id}/admin", data={"csrf_token": token})
    assert worker.has_role("admin")


def test_workers_see_colleagues_but_cannot_manage_staff(
    client, db, make_community, make_user, login
):
    east, west = make_community("东社区"), make_community("西社区")
    me = make_user(communities=[east], name="我")
    colleague = make_user(communities=[east], name="同事")
    stranger = make_user(communities=[west], name="外人")
    login(me)
    listing = client.get("/panel/staff").text
    assert "同事" in listing and "外人" not in listing and "新建工作人员账号" not in listing
    assert client.get(f"/panel/staff/{stranger.id}").status_code == 404
    token = csrf_from(listing)
    assert (
        client.post(
            "/panel/staff",
            data={
                "csrf_token": token,
                "new-name": "x",
                "new-phone": "13900001111",
                "new-role": "admin",
            },
        ).status_code
        == 403
    )
    for path in ("scope", "admin", "active", "link"):
        assert (
            client.post(
                f"/panel/staff/{colleague.id}/{path}", data={"csrf_token": token}
            ).status_code
            == 403
        )
    assert not me.has_role("admin")


def test_everyone_changes_their_own_password_with_the_current_one(client, db, make_user, login):
    worker = make_user(communities=None)
    login(worker)
    page = client.get("/account/password")
    wrong = client.post(
        "/account/password",
        data={
            "csrf_token": csrf_from(page.text),
            "current": "not it",
            "password": "brand-new-pass",
            "confirm": "brand-new-pass",
        },
    )
    assert "当前密码不正确" in wrong.text
    done = client.post(
        "/account/password",
        data={
            "csrf_token": csrf_from(page.text),
            "current": "correct horse",
            "password": "brand-new-pass",
            "confirm": "brand-new-pass",
        },
    )
    assert done.status_code == 302
    assert client.get("/panel/").status_code == 200  # this device stays signed in
    assert people.authenticate(worker.phone, "brand-new-pass", now=worker.created_at) == worker


def test_made_up_and_overlong_links_are_refused(client, db):
    assert client.get("/set-password/" + "a" * 43).status_code == 410
    assert client.get("/set-password/" + "a" * 500).status_code == 410
    page = client.get("/set-password/nonsense")
    assert "该链接已使用或已过期" in page.text


# --- communities --------------------------------------------------------------------------


def test_the_administrator_creates_and_renames_communities(client, db, admin, login, make_user):
    login(admin)
    token = token_of(client, "/panel/org")
    client.post(
        "/panel/org/communities",
        data={"csrf_token": token, "name": "阳光社区", "street": "幸福街道"},
    )
    community = org.find_community("阳光社区")
    assert community is not None and community.parent.name == "幸福街道"
    client.post(
        "/panel/org/communities",
        data={"csrf_token": token, "name": "阳光社区", "street": "幸福街道"},
    )
    assert len(org.communities()) == 1
    client.post(
        f"/panel/org/{community.id}/settings",
        data={
            "csrf_token": token,
            "name": "阳光新社区",
            "contact_number": "10690000",
            "timezone": "",
            "monthly_budget": "",
        },
    )
    assert (community.name, community.contact_number) == ("阳光新社区", "10690000")
    assert audited(db, "community.create") == 1 and audited(db, "community.settings") == 1
    # A worker can set the number but not rename, nor create.
    worker = make_user(communities=[community])
    client.post("/logout", data={"csrf_token": token})
    login(worker)
    token = token_of(client, "/panel/org")
    client.post(
        f"/panel/org/{community.id}/settings",
        data={
            "csrf_token": token,
            "name": "改名",
            "contact_number": "",
            "timezone": "",
            "monthly_budget": "",
        },
    )
    assert community.name == "阳光新社区"
    assert (
        client.post(
            "/panel/org/communities", data={"csrf_token": token, "name": "x", "street": "y"}
        ).status_code
        == 403
    )


# --- the organisation tree ----------------------------------------------------------------


@pytest.fixture
def tree(db, now, make_community, make_user, login):
    community = make_community("阳光社区")
    worker = make_user(communities=[community])
    login(worker)
    return community, worker


def resident(db, now, community, node, name, phone):
    person = people.create_person(
        name=name,
        phone=phone,
        community=community,
        org_unit=node,
        now=now,
        actor=None,
        source="test",
    )
    return person


def test_a_typo_grid_is_merged_with_its_residents_buildings_and_leaders(client, db, now, tree):
    community, worker = tree
    right = org.place(community, "第1网格", "3号楼", "1单元", "101")
    typo = org.place(community, "第一网格", "3号楼", "2单元", "201")
    typo_grid = typo.parent.parent.parent
    right_grid = right.parent.parent.parent
    anna = resident(db, now, community, typo, "王小芳", "13900000301")
    bo = resident(db, now, community, right, "李大伟", "13900000302")
    carl = resident(db, now, community, typo_grid, "赵网格", "13900000303")
    people.appoint_leader(bo, right_grid, "grid_leader", actor=worker, now=now)
    people.appoint_leader(carl, typo_grid, "grid_leader", actor=worker, now=now)
    page = client.get(f"/panel/org/node/{typo_grid.id}")
    assert "第1网格" in page.text  # offered to merge into
    response = client.post(
        f"/panel/org/node/{typo_grid.id}/merge",
        data={"csrf_token": csrf_from(page.text), "into": str(right_grid.id)},
    )
    assert response.headers["Location"].endswith(f"/panel/org/node/{right_grid.id}")
    assert org.find_node(typo_grid.id) is None
    # The two 3号楼 became one, with both units; everyone lives where they did.
    buildings = [n for n in org.children(right_grid) if n.kind == "building"]
    assert [b.name for b in buildings] == ["3号楼"]
    assert sorted(u.name for u in org.children(buildings[0])) == ["1单元", "2单元"]
    db.session.refresh(anna)
    assert anna.org_unit.path.startswith(right_grid.path)
    assert org.residents_count(right_grid) == 3
    # Two grid leaders now: reported, both kept.
    followed = client.get(response.headers["Location"]).text
    assert "第1网格 现在有两位负责人（李大伟、赵网格），请移除一位。" in followed
    held = people.leaders_in(right_grid)
    assert sorted(h.person.name for h in held if h.org_unit_id == right_grid.id) == [
        "李大伟",
        "赵网格",
    ]
    assert audited(db, "org.merge") == 1


def test_add_rename_move_and_delete_places(client, db, now, tree):
    community, worker = tree
    token = token_of(client, f"/panel/org/node/{community.id}")
    client.post(
        f"/panel/org/node/{community.id}/add",
        data={"csrf_token": token, "kind": "grid", "name": "第2网格"},
    )
    grid = next(n for n in org.children(community) if n.name == "第2网格")
    client.post(
        f"/panel/org/node/{grid.id}/add",
        data={"csrf_token": token, "kind": "building", "name": "5号楼"},
    )
    (building,) = org.children(grid)
    # A unit cannot hang under a grid; a typed kind is refused.
    client.post(
        f"/panel/org/node/{grid.id}/add", data={"csrf_token": token, "kind": "unit", "name": "x"}
    )
    client.post(
        f"/panel/org/node/{grid.id}/add", data={"csrf_token": token, "kind": "street", "name": "x"}
    )
    assert len(org.children(grid)) == 1
    client.post(f"/panel/org/node/{building.id}/rename", data={"csrf_token": token, "name": "5栋"})
    assert building.name == "5栋"
    other = org.place(community, "第3网格")
    client.post(
        f"/panel/org/node/{building.id}/move", data={"csrf_token": token, "to": str(other.id)}
    )
    db.session.refresh(building)
    assert building.parent_id == other.id and building.path == f"{other.path}{building.id}/"
    # A place cannot move into itself, nor into another community.
    inner = org.place(community, "第3网格", "5栋", "1单元")
    client.post(
        f"/panel/org/node/{building.id}/move", data={"csrf_token": token, "to": str(inner.id)}
    )
    db.session.refresh(building)
    assert building.parent_id == other.id
    # Deleting: only an empty place.
    resident(db, now, community, inner, "住户", "13900000304")
    client.post(f"/panel/org/node/{building.id}/delete", data={"csrf_token": token})
    assert org.find_node(building.id) is not None
    client.post(f"/panel/org/node/{grid.id}/delete", data={"csrf_token": token})
    assert org.find_node(grid.id) is None
    assert [audited(db, a) for a in ("org.add", "org.rename", "building.move", "org.delete")] == [
        2,
        1,
        1,
        1,
    ]


def test_another_communitys_tree_cannot_be_touched(client, db, now, tree, make_community):
    community, worker = tree
    theirs = make_community("和平社区")
    their_grid = org.place(theirs, "第1网格")
    mine = org.place(community, "第1网格")
    token = token_of(client, f"/panel/org/node/{mine.id}")
    for path, data in (
        ("rename", {"name": "x"}),
        ("delete", {}),
        ("add", {"kind": "building", "name": "x"}),
        ("merge", {"into": str(mine.id)}),
    ):
        response = client.post(
            f"/panel/org/node/{their_grid.id}/{path}", data={"csrf_token": token, **data}
        )
        assert response.status_code == 404, path
    # Merging mine into theirs (an id typed by hand) is refused too.
    client.post(
        f"/panel/org/node/{mine.id}/merge", data={"csrf_token": token, "into": str(their_grid.id)}
    )
    assert org.find_node(mine.id) is not None and their_grid.name == "第1网格"


def test_the_residents_building_filter_names_each_building_by_its_path(client, db, tree):
    community, worker = tree
    org.place(community, "第1网格", "3号楼")
    org.place(community, "第2网格", "3号楼")
    page = client.get("/panel/residents").text
    assert "第1网格 › 3号楼" in page and "第2网格 › 3号楼" in page


def test_the_community_list_is_searchable_and_paged(client, db, make_community, admin, login):
    for n in range(30):
        make_community(f"社区{n:02d}号")
    make_community("阳光社区")
    login(admin)
    first = client.get("/panel/org").text
    assert "第 1 / 2 页（共 31 条）" in first
    assert "阳光社区" in client.get("/panel/org?page=2").text
    found = client.get("/panel/org?q=阳光").text
    assert "阳光社区" in found and "社区01号" not in found
    assert "没有符合条件的社区" in client.get("/panel/org?q=无此社区").text
