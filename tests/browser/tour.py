"""Every page of each audience on the demo street: what the accessibility test audits and
the screenshot tour photographs (one list, so a new page is added once)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.browser.conftest import sign_in_by_code, sign_in_by_password

DEMO_PASSWORD = "linli-demo-2026"
VOLUNTEER_PHONE = "13800138000"  # 张明, the demo volunteer


@pytest.fixture
def demo_street(committed_app, now):
    """The demo street, committed, with last month's statement published: every kind of
    page has something on it. Its ids."""
    from app import demo
    from app.activities import scan_codes
    from app.core.database import commit_unit_of_work
    from app.core.extensions import db
    from app.models import (
        Activity,
        DeedRule,
        LeaderRole,
        Merchant,
        Need,
        NeedKind,
        Offer,
        OrgUnit,
        Person,
        Redemption,
        Team,
    )
    from app.partners import personal_codes, redemptions
    from app.points import statements

    with committed_app.app_context():
        demo.seed(now)

        def first(statement):
            return db.session.scalar(statement.limit(1))

        zhang = db.session.scalar(sa.select(Person).where(Person.name == "张明"))
        worker = db.session.scalar(sa.select(Person).where(Person.login == "yangguang"))
        last_month = f"{now.year - (now.month == 1)}-{(now.month - 2) % 12 + 1:02d}"
        statement = statements.generate(zhang.community, last_month, actor=worker, now=now)
        statements.publish(statement, actor=worker, now=now)
        shop = first(sa.select(Merchant.id).where(Merchant.name == "老张理发店"))
        # A sale under way at the shop (张明's code read), and the projector's code of the
        # activity on now: the pages that need one.
        code = personal_codes.issue(zhang, now=now)
        merchant = db.session.get(Merchant, shop)
        ticket = redemptions.start(code.digits, merchant, operator=None, now=now).token
        running = db.session.scalar(
            sa.select(Activity).where(Activity.starts_at <= now, Activity.ends_at > now).limit(1)
        )
        scan = scan_codes.scan_token(running, "in", now) if running else None
        leader = db.session.scalar(
            sa.select(Person.phone)
            .join(LeaderRole, LeaderRole.person_id == Person.id)
            .where(LeaderRole.role == "building_leader")
            .order_by(LeaderRole.id)
            .limit(1)
        )
        commit_unit_of_work()
        return {
            "activity": first(sa.select(Activity.id).order_by(Activity.id)),
            "shop": shop,
            "offer": first(sa.select(Offer.id).where(Offer.merchant_id == shop)),
            "resident": zhang.id,
            "worker": worker.id,
            "grid": first(
                sa.select(OrgUnit.id)
                .where(OrgUnit.kind == "grid", OrgUnit.path.startswith(zhang.community.path))
                .order_by(OrgUnit.id)
            ),
            "team": first(sa.select(Team.id).order_by(Team.id)),
            "rule": first(sa.select(DeedRule.id).order_by(DeedRule.id)),
            "statement": statement.id,
            "last_month": last_month,
            "receipt": first(sa.select(Redemption.id).where(Redemption.merchant_id == shop)),
            "ticket": ticket,
            "scan": scan,
            "leader_phone": leader,
            "community": zhang.community_id,
            # A request 张明 may take (open, in his community), and the street's first kind.
            "need": first(
                sa.select(Need.id)
                .where(Need.community_id == zhang.community_id, Need.status == "open")
                .order_by(Need.id)
            ),
            "need_kind": first(sa.select(NeedKind.id).order_by(NeedKind.id)),
        }


def public_pages(ids: dict) -> list[str]:
    return [
        "/",
        "/signin",
        "/login",
        "/join",
        "/boards",
        "/boards/groups",
        "/boards/screen",
        f"/statements/{ids['statement']}",
        f"/needs/board/{ids['community']}",
    ]


def volunteer_pages(ids: dict) -> list[str]:
    # The projector's QR code opens the confirmation, which checks in and says so: last.
    scanned = [f"/scan/in/{ids['scan']}"] if ids["scan"] else []
    return [
        "/",
        "/activities",
        f"/activities/{ids['activity']}",
        "/history",
        "/me/code",
        "/offers",
        "/boards",
        "/boards/groups",
        "/settings",
        "/deeds/report",
        "/needs",
        "/needs?all=1",
        "/needs/new",
        f"/needs/{ids['need']}",
        "/needs/board",
        "/resources",
        "/party",
        "/certificate",
        "/card",
        *scanned,
    ]


def shop_pages(ids: dict) -> list[str]:
    shop = f"/m/{ids['shop']}"
    pages = ["/m/", f"{shop}/", f"{shop}/redeem", f"{shop}/sale?t={ids['ticket']}"]
    pages += [f"{shop}/offers", f"{shop}/offers/new"]
    pages += [f"{shop}/history", f"{shop}/statement"]
    if ids["receipt"]:
        pages.append(f"{shop}/receipts/{ids['receipt']}")
    if ids["offer"]:
        pages.append(f"{shop}/offers/{ids['offer']}/edit")
    return pages


def panel_pages(ids: dict) -> list[str]:
    return [
        "/panel/",
        "/panel/dashboard",
        "/panel/residents",
        f"/panel/residents/{ids['resident']}",
        "/panel/residents/new",
        "/panel/residents/import",
        "/panel/org",
        f"/panel/org/node/{ids['grid']}",
        "/panel/teams",
        f"/panel/teams/{ids['team']}",
        "/panel/activities",
        f"/panel/activities/{ids['activity']}",
        f"/panel/activities/{ids['activity']}/edit",
        f"/panel/activities/{ids['activity']}/screen",
        "/panel/activities/new",
        "/panel/awards",
        f"/panel/adjustments/new?person={ids['resident']}",
        "/panel/approvals",
        "/panel/merchants",
        f"/panel/merchants/{ids['shop']}",
        "/panel/merchants/new",
        "/panel/rules",
        "/panel/rules/new",
        "/panel/statements",
        f"/panel/statements/{ids['statement']}",
        "/panel/staff",
        f"/panel/staff/{ids['worker']}",
        "/panel/audit",
        "/panel/api-tokens",
        "/panel/outbox",
        "/panel/broadcasts",
        f"/panel/broadcasts/new?kind=node&id={ids['grid']}",
        "/panel/needs",
        "/panel/needs?status=confirmed",
        f"/panel/needs/{ids['need']}",
        "/panel/need-kinds",
        "/panel/need-kinds/new",
        "/panel/needs/helpers",
        "/panel/deductions",
        "/panel/resources",
        "/panel/resources/new",
        "/panel/party-members",
        f"/panel/deductions/new?person={ids['resident']}",
        "/account/password",
    ]


def admin_pages(ids: dict) -> list[str]:
    """What only the street's administrator opens."""
    return [
        "/panel/settlements",
        f"/panel/settlements/{ids['last_month']}",
        f"/panel/merchants/{ids['shop']}/edit",
        f"/panel/rules/{ids['rule']}/edit",  # the street's catalogue
        f"/panel/need-kinds/{ids['need_kind']}",  # the street's kinds
    ]


def sign_in(page, base: str, audience: str) -> None:
    """Sign the page's browser in as the demo street's person of that audience."""
    if audience == "volunteer":
        sign_in_by_code(page, base, VOLUNTEER_PHONE)
        page.wait_for_url(base + "/")
    elif audience == "shop":
        sign_in_by_password(page, base, "laozhang", DEMO_PASSWORD)
    elif audience == "panel":
        sign_in_by_password(page, base, "yangguang", DEMO_PASSWORD)
    elif audience == "admin":
        sign_in_by_password(page, base, "admin", DEMO_PASSWORD)


PAGES = {
    "public": public_pages,
    "volunteer": volunteer_pages,
    "shop": shop_pages,
    "panel": panel_pages,
    "admin": admin_pages,
}
