"""Dashboard figures: what the charts draw, computed per community or for the street."""

from datetime import timedelta

from app.activities import attendance
from app.partners import personal_codes, redemptions
from app.points import dashboard


def test_figures_for_a_community_and_the_street(
    db, now, make_community, make_volunteer, make_activity, make_merchant
):
    here, there = make_community(budget=1000), make_community()
    volunteer = make_volunteer(community=here, points=40)
    make_volunteer(community=there, points=7)
    activity = make_activity(community=here, category="elderly_care", points=10)
    attendance.check_in(activity, volunteer, now=now)
    attendance.check_out(activity, volunteer, now=now + timedelta(minutes=90))
    merchant, offer = make_merchant(communities=[here], points_cost=30)
    code = personal_codes.issue(volunteer, now=now)
    redemptions.redeem(
        ticket=redemptions.start(code.digits, merchant, operator=None, now=now),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=None,
        idempotency_key="d1",
        now=now,
    )

    weekly = dashboard.points_by_week({here.id}, now)
    assert weekly.values["issued"][-1] == 50 and weekly.values["redeemed"][-1] == 30
    assert dashboard.points_by_week(None, now).values["issued"][-1] == 57
    assert dashboard.active_volunteers_by_month({here.id}, now).values["active"][-1] == 1
    assert dashboard.active_volunteers_by_month(None, now).values["active"][-1] == 2
    assert dashboard.hours_by_category({here.id}, now) == {"elderly_care": 1.5}
    budgets = {b.community: (b.issued, b.budget) for b in dashboard.budget_use(None, now)}
    assert budgets[here.name] == (50, 1000) and budgets[there.name] == (7, None)


def test_the_front_pages_figures_are_kept_a_minute(app, db, now, make_community, make_volunteer):
    """Counting a million residents on every view of the public front page was most of a
    second under load: the figures are kept for a minute per worker, by the app's clock."""
    from datetime import timedelta

    from app.points import reports

    community = make_community()
    make_volunteer(community=community)
    first = reports.street_figures(now).residents
    make_volunteer(community=community)
    assert reports.street_figures(now + timedelta(seconds=59)).residents == first
    assert reports.street_figures(now + timedelta(seconds=60)).residents == first + 1
