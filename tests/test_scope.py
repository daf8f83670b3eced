"""A worker touches only their own communities: imports, award previews, budgets (issue 14)."""

import io

from app.points import ledger
from tests.conftest import csrf_from


def _preview(client, community, csv_text: str):
    page = client.get("/panel/residents/import")
    return client.post(
        "/panel/residents/import",
        data={
            "csrf_token": csrf_from(page.text),
            "community": community.id,
            "file": (io.BytesIO(csv_text.encode()), "居民.csv"),
        },
        content_type="multipart/form-data",
    )


def _confirm(client, preview, community):
    token = preview.text.split('name="token" value="')[1].split('"')[0]
    return client.post(
        "/panel/residents/import/confirm",
        data={
            "csrf_token": csrf_from(preview.text),
            "token": token,
            "community": community.id,
            "skip_bad": "1",
        },
    )


def test_an_import_cannot_take_over_people_of_another_community(
    client, db, login, make_community, make_user, make_volunteer, make_merchant
):
    west, east = make_community("西社区"), make_community("东社区")
    resident = make_volunteer(community=east, name="东居民", phone="+8613800138301", points=50)
    colleague = make_user(communities=[east], name="东社工", phone="+8613800138302")
    shop, _offer = make_merchant(communities=[east])
    operator = make_user("merchant", merchant=shop, name="东店员", phone="+8613800138303")
    login(make_user(communities=[west], name="西社工"))
    rows = "\n".join(
        ["phone,name", "13800138301,冒名一", "13800138302,冒名二", "13800138303,冒名三"]
        + ["13800138304,新居民"]
    )
    preview = _preview(client, west, rows)
    assert preview.status_code == 200
    assert "另一个社区的居民" in preview.text and "工作人员或红色合伙人账号" in preview.text
    assert "东居民" not in preview.text  # the preview names nobody it may not show
    done = _confirm(client, preview, west)
    assert done.status_code == 302
    for person, name in ((resident, "东居民"), (colleague, "东社工"), (operator, "东店员")):
        db.session.refresh(person)
        assert person.name == name
    assert resident.community_id == east.id
    assert ledger.find_wallet(resident).community_id == east.id
    # The worker still cannot open the resident.
    assert client.get(f"/panel/residents/{resident.id}").status_code == 404


def test_an_administrator_may_move_residents_but_never_staff(
    client, db, login, make_community, make_user, make_volunteer
):
    west, east = make_community("西社区"), make_community("东社区")
    resident = make_volunteer(community=east, name="东居民", phone="+8613800138301")
    colleague = make_user(communities=[east], name="东社工", phone="+8613800138302")
    login(make_user("admin", name="街道管理员"))
    preview = _preview(client, west, "phone,name\n13800138301,东居民\n13800138302,改名")
    assert "迁入" in preview.text and "工作人员或红色合伙人账号" in preview.text
    _confirm(client, preview, west)
    db.session.refresh(resident)
    db.session.refresh(colleague)
    assert resident.community_id == west.id and colleague.name == "东社工"


def test_the_award_preview_does_not_show_another_communitys_resident(
    client, db, login, make_community, make_user, make_volunteer
):
    west, east = make_community("西社区"), make_community("东社区")
    make_volunteer(community=east, name="王东东", phone="+8613800138401")
    login(make_user(communities=[west]))
    page = client.get("/panel/awards")
    rule = page.text.split('<option value="')[1].split('"')[0]
    preview = client.post(
        "/panel/awards",
        data={
            "csrf_token": csrf_from(page.text),
            "rule": rule,
            "how": "phones",
            "phones": "13800138401",
        },
    )
    assert preview.status_code == 200
    assert "王东东" not in preview.text and "东社区" not in preview.text
    assert "不在您负责的社区" in preview.text


def test_only_the_street_administrator_changes_a_budget(
    client, db, login, make_community, make_user
):
    community = make_community("西社区", budget=1000)
    login(make_user(communities=[community]))
    page = client.get("/panel/org")
    refused = client.post(
        f"/panel/org/{community.id}/settings",
        data={"csrf_token": csrf_from(page.text), "monthly_budget": "99999999"},
        follow_redirects=True,
    )
    assert "只有街道管理员可以修改社区的预算" in refused.text
    db.session.refresh(community)
    assert community.monthly_budget == 1000
    # The time zone alone may still be set by the worker (the budget field is unchanged).
    page = client.get("/panel/org")
    assert 'name="monthly_budget" value="1000"' in page.text
    client.post(
        f"/panel/org/{community.id}/settings",
        data={
            "csrf_token": csrf_from(page.text),
            "monthly_budget": "1000",
            "timezone": "Asia/Urumqi",
        },
    )
    db.session.refresh(community)
    assert community.timezone == "Asia/Urumqi" and community.monthly_budget == 1000
    # The administrator sets it.
    client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    login(make_user("admin", name="街道管理员"))
    page = client.get("/panel/org")
    client.post(
        f"/panel/org/{community.id}/settings",
        data={"csrf_token": csrf_from(page.text), "monthly_budget": "5000"},
    )
    db.session.refresh(community)
    assert community.monthly_budget == 5000
