"""Figures for the staff dashboard, per community or for the street (read only).

Each reads a bounded window (the last weeks or months) through indexed columns: ledger
transactions by time, redemptions by time, attendances and deed awards by time.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.core import clock
from app.core.extensions import db
from app.models import (
    Account,
    Activity,
    Attendance,
    LedgerEntry,
    LedgerTransaction,
    Need,
    OrgUnit,
    PeriodTotal,
    Person,
    Redemption,
    Team,
)
from app.points import ledger

WEEKS = 12
MONTHS = 6


def _week_start(moment: datetime) -> str:
    local = clock.local(moment, None)
    monday = (local - timedelta(days=local.weekday())).date()
    return monday.strftime("%m-%d")


def _week_labels(now: datetime) -> list[str]:
    return [_week_start(now - timedelta(weeks=n)) for n in range(WEEKS - 1, -1, -1)]


def _month_labels(now: datetime) -> list[str]:
    local = clock.local(now, None)
    year, month = local.year, local.month
    labels = []
    for _ in range(MONTHS):
        labels.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return labels[::-1]


@dataclass
class Series:
    labels: list[str]
    values: dict[str, list]  # series name → one value per label (None: no value)


def points_by_week(community_ids: set[int] | None, now: datetime) -> Series:
    """Points issued (earned by residents) and redeemed at shops, per week."""
    since = now - timedelta(weeks=WEEKS)
    labels = _week_labels(now)
    issued: Counter[str] = Counter()
    query = (
        sa.select(LedgerTransaction.created_at, LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(Account, LedgerEntry.account_id == Account.id)
        .where(
            Account.kind == "issuance",
            LedgerTransaction.created_at >= since,
            sa.or_(
                LedgerTransaction.kind.in_(ledger.EARNING_KINDS),
                LedgerTransaction.kind == "reversal",
            ),
        )
    )
    if community_ids is not None:
        query = query.where(Account.community_id.in_(community_ids))
    for at, amount in db.session.execute(query):
        issued[_week_start(at)] -= amount
    redeemed: Counter[str] = Counter()
    query = sa.select(Redemption.created_at, Redemption.points).where(
        Redemption.created_at >= since, Redemption.voided_at.is_(None)
    )
    if community_ids is not None:
        query = query.join(Person, Redemption.person_id == Person.id).where(
            Person.community_id.in_(community_ids)
        )
    for at, points in db.session.execute(query):
        redeemed[_week_start(at)] += points
    return Series(
        labels,
        {
            "issued": [issued[w] for w in labels],
            "redeemed": [redeemed[w] for w in labels],
        },
    )


def active_volunteers_by_month(community_ids: set[int] | None, now: datetime) -> Series:
    """People who earned points (activities, deeds, awards) per month, from kept totals."""
    labels = _month_labels(now)
    keys = {"M" + label: label for label in labels}
    query = (
        sa.select(PeriodTotal.period, sa.func.count())
        .join(Account, PeriodTotal.account_id == Account.id)
        .where(
            Account.kind == "wallet",
            PeriodTotal.period.in_(list(keys)),
            PeriodTotal.amount > 0,
        )
        .group_by(PeriodTotal.period)
    )
    if community_ids is not None:
        query = query.where(Account.community_id.in_(community_ids))
    counts = {keys[period]: count for period, count in db.session.execute(query)}
    return Series(labels, {"active": [counts.get(label, 0) for label in labels]})


def needs_by_month(community_ids: set[int] | None, now: datetime) -> Series:
    """Residents' requests per month (the street's zone): raised, solved (confirmed that
    month), and the median hours from raised to confirmed of those solved."""
    labels = _month_labels(now)
    first = datetime.strptime(labels[0] + "-01", "%Y-%m-%d").replace(tzinfo=clock.zone_for(None))
    query = sa.select(Need.created_at, Need.confirmed_at, Need.status).where(
        Need.status != "merged",
        sa.or_(Need.created_at >= first, Need.confirmed_at >= first),
    )
    if community_ids is not None:
        query = query.where(Need.community_id.in_(community_ids))
    raised: Counter[str] = Counter()
    solved: Counter[str] = Counter()
    hours: dict[str, list[float]] = {}
    for created_at, confirmed_at, status in db.session.execute(query):
        raised[clock.local(created_at, None).strftime("%Y-%m")] += 1
        if status == "confirmed" and confirmed_at is not None:
            month = clock.local(confirmed_at, None).strftime("%Y-%m")
            solved[month] += 1
            hours.setdefault(month, []).append((confirmed_at - created_at).total_seconds() / 3600)
    return Series(
        labels,
        {
            "raised": [raised.get(label, 0) for label in labels],
            "solved": [solved.get(label, 0) for label in labels],
            "median_hours": [
                round(statistics.median(hours[label]), 1) if label in hours else None
                for label in labels
            ],
        },
    )


def hours_by_category(community_ids: set[int] | None, now: datetime) -> dict[str, float]:
    """Verified service hours in the last 3 months, by kind of activity."""
    query = (
        sa.select(Activity.category, sa.func.sum(Attendance.minutes))
        .join(Activity, Attendance.activity_id == Activity.id)
        .where(
            Attendance.status == "approved",
            Attendance.checked_in_at >= now - timedelta(days=91),
        )
        .group_by(Activity.category)
    )
    if community_ids is not None:
        query = query.where(Activity.community_id.in_(community_ids))
    return {
        category: round((minutes or 0) / 60, 1) for category, minutes in db.session.execute(query)
    }


def top_teams(
    community_ids: set[int] | None, now: datetime, limit: int = 8
) -> list[tuple[str, float]]:
    """Teams by verified hours of their activities in the last 3 months."""
    query = (
        sa.select(Team.name, sa.func.sum(Attendance.minutes))
        .join(Activity, Activity.team_id == Team.id)
        .join(Attendance, Attendance.activity_id == Activity.id)
        .where(
            Attendance.status == "approved",
            Attendance.checked_in_at >= now - timedelta(days=91),
        )
        .group_by(Team.id, Team.name)
        .order_by(sa.func.sum(Attendance.minutes).desc())
        .limit(limit)
    )
    if community_ids is not None:
        query = query.where(Team.community_id.in_(community_ids))
    return [(name, round((minutes or 0) / 60, 1)) for name, minutes in db.session.execute(query)]


@dataclass
class BudgetUse:
    community: str
    issued: int
    budget: int | None

    @property
    def share(self) -> float | None:
        """The part of the budget used (above 1 when an administrator issued past it)."""
        return self.issued / self.budget if self.budget else None


def budget_use(community_ids: set[int] | None, now: datetime) -> list[BudgetUse]:
    """Points issued this month against each community's monthly budget."""
    month = ledger.period_keys(now)[0]
    query = (
        sa.select(OrgUnit.name, OrgUnit.monthly_budget, PeriodTotal.amount)
        .join(
            Account,
            sa.and_(
                Account.owner_type == "org_unit",
                Account.owner_id == OrgUnit.id,
                Account.kind == "issuance",
            ),
        )
        .outerjoin(
            PeriodTotal,
            sa.and_(PeriodTotal.account_id == Account.id, PeriodTotal.period == month),
        )
        .where(OrgUnit.kind == "community")
        .order_by(OrgUnit.id)
    )
    if community_ids is not None:
        query = query.where(OrgUnit.id.in_(community_ids))
    return [
        BudgetUse(name, amount or 0, budget) for name, budget, amount in db.session.execute(query)
    ]
