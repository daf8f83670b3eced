"""Read-only figures for overview pages. Read from kept totals, never by scanning the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.core.extensions import db
from app.models import Account, OrgUnit, PeriodTotal, Person
from app.points import ledger


@dataclass(frozen=True)
class CommunityRow:
    community: OrgUnit
    residents: int
    issued_this_month: int
    budget: int | None
    outstanding: int  # points issued and not yet spent or returned

    @property
    def budget_used(self) -> float | None:
        if not self.budget:
            return None
        return min(self.issued_this_month / self.budget, 1.0)


def community_overview(now: datetime, visible_ids: set[int] | None) -> list[CommunityRow]:
    """One row per community the viewer may see (None = all)."""
    month = ledger.period_keys(now)[0]
    query = sa.select(OrgUnit).where(OrgUnit.kind == "community").order_by(OrgUnit.id)
    if visible_ids is not None:
        query = query.where(OrgUnit.id.in_(visible_ids))
    communities = list(db.session.scalars(query))
    ids = [c.id for c in communities]
    residents = dict(
        db.session.execute(
            sa.select(Person.community_id, sa.func.count())
            .where(Person.community_id.in_(ids))
            .group_by(Person.community_id)
        ).all()
    )
    issuance = {
        account.owner_id: account
        for account in db.session.scalars(
            sa.select(Account).where(
                Account.kind == "issuance",
                Account.owner_type == "org_unit",
                Account.owner_id.in_(ids),
            )
        )
    }
    issued = dict(
        db.session.execute(
            sa.select(PeriodTotal.account_id, PeriodTotal.amount).where(
                PeriodTotal.period == month,
                PeriodTotal.account_id.in_([a.id for a in issuance.values()]),
            )
        ).all()
    )
    rows = []
    for community in communities:
        account = issuance.get(community.id)
        rows.append(
            CommunityRow(
                community=community,
                residents=residents.get(community.id, 0),
                issued_this_month=issued.get(account.id, 0) if account else 0,
                budget=community.monthly_budget,
                outstanding=-account.balance if account else 0,
            )
        )
    return rows


@dataclass(frozen=True)
class StreetFigures:
    communities: int
    residents: int
    issued_this_month: int
    merchants: int


# The street's front page is public and the busiest page there is: at a million residents,
# counting them on every view took most of a second under load. Its figures are kept for a
# minute in each worker (by the app's clock), so a new resident shows within that minute.
FIGURES_FRESH_FOR = timedelta(minutes=1)
_KEPT = "linli.street_figures"


def street_figures(now: datetime) -> StreetFigures:
    kept = current_app.extensions.get(_KEPT)
    if kept is not None and kept[0] <= now < kept[0] + FIGURES_FRESH_FOR:
        return kept[1]
    figures = _count_street_figures(now)
    current_app.extensions[_KEPT] = (now, figures)
    return figures


def forget_street_figures() -> None:
    current_app.extensions.pop(_KEPT, None)


def _count_street_figures(now: datetime) -> StreetFigures:
    from app.models import Merchant

    rows = community_overview(now, None)
    merchants = db.session.scalar(
        sa.select(sa.func.count()).select_from(Merchant).where(Merchant.status == "active")
    )
    return StreetFigures(
        communities=len(rows),
        residents=sum(r.residents for r in rows),
        issued_this_month=sum(r.issued_this_month for r in rows),
        merchants=merchants or 0,
    )


@dataclass
class ToDo:
    kind: str  # attendances | adjustments | objections | offers
    count: int


def to_do(community_ids: set[int] | None, now: datetime) -> list[ToDo]:
    """What waits for staff of these communities (None: the street), by kind: the panel's
    home. Counted with the queries the approvals inbox and the needs list show them by."""
    from app.activities import attendance
    from app.partners import offers
    from app.points import deed_reports, deeds, needs, statements

    queries = {
        "needs": needs.waiting_for_staff_query(community_ids, now),
        "deed_reports": deed_reports.pending_query(community_ids),
        "attendances": attendance.pending_query(community_ids),
        "adjustments": deeds.pending_adjustments_query(community_ids),
        "objections": statements.open_objections_query(community_ids),
        "offers": offers.pending_reviews_query(community_ids),
    }
    return [
        ToDo(kind, db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
        for kind, query in queries.items()
    ]
