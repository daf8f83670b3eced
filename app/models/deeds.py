"""Deed rules (积分规则), the deeds awarded under them, and manual adjustments."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime, utc_default
from app.models.people import Person

DEED_CATEGORIES = (
    "elderly_care",
    "environment",
    "mediation",
    "safety",
    "culture",
    "health",
    "other",
)


class DeedRule(Model):
    """A good deed and the points it earns, with optional per-person limits.

    A rule with no community is the street's and may be used by every community.
    """

    __tablename__ = "deed_rules"
    __table_args__ = (
        CheckConstraint("points > 0", name="points"),
        CheckConstraint("daily_limit IS NULL OR daily_limit > 0", name="daily_limit"),
        CheckConstraint("monthly_limit IS NULL OR monthly_limit > 0", name="monthly_limit"),
        CheckConstraint(
            "category IN ('elderly_care', 'environment', 'mediation', 'safety', 'culture', "
            "'health', 'other')",
            name="category",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(20))
    points: Mapped[int]
    # How many times one person may be awarded this deed per local day / month.
    daily_limit: Mapped[int | None]
    monthly_limit: Mapped[int | None]
    evidence_required: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # A deduction (扣分: 违规停车, 高空抛物): staff take `points` from a wallet under it.
    deducts: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # For a deduction: what the wallet cannot cover is owed and taken from what the person
    # earns next (else it is waived).
    owe_beyond_balance: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)


class Deduction(Model):
    """Points staff took from a person under a deduction rule, with the reason and
    evidence; what the wallet could not cover is owed (collected from later earnings) or
    waived, as the rule says. A reversed deduction gave its points back."""

    __tablename__ = "deductions"
    __table_args__ = (
        CheckConstraint("points > 0", name="points"),
        CheckConstraint("taken >= 0 AND owed >= 0 AND taken + owed <= points", name="parts"),
        CheckConstraint("status IN ('active', 'reversed')", name="status"),
        Index("ix_deductions_person_id_owed", "person_id", "owed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("deed_rules.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    points: Mapped[int]
    # Taken from the wallet so far (at once, and from later earnings), and still owed.
    taken: Mapped[int] = mapped_column(default=0)
    owed: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(String(200))
    photo: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(10), default="active")
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reverse_reason: Mapped[str] = mapped_column(String(200), default="")

    rule: Mapped[DeedRule] = relationship()
    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    actor: Mapped[Person] = relationship(foreign_keys=[actor_id])


class DeedCount(Model):
    """How often a person was awarded a rule in a period ('D2026-11-24' or 'M2026-11')."""

    __tablename__ = "deed_counts"

    rule_id: Mapped[int] = mapped_column(ForeignKey("deed_rules.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(11), primary_key=True)
    used: Mapped[int] = mapped_column(default=0)


class DeedAward(Model):
    """One deed awarded to one person, with its evidence note and ledger transaction."""

    __tablename__ = "deed_awards"
    __table_args__ = (Index("ix_deed_awards_person_id_created_at", "person_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("deed_rules.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), unique=True)
    points: Mapped[int]
    note: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    rule: Mapped[DeedRule] = relationship()
    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class Adjustment(Model):
    """A manual correction of a person's points with a reason.

    Above the threshold it waits ('pending') for a second staff member (maker-checker);
    then it is 'posted' (with its transaction) or 'rejected'.
    """

    __tablename__ = "adjustments"
    __table_args__ = (
        CheckConstraint("points <> 0", name="points"),
        CheckConstraint("status IN ('pending', 'posted', 'rejected')", name="status"),
        CheckConstraint("checker_id IS NULL OR checker_id <> maker_id", name="two_people"),
        Index("ix_adjustments_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    maker_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    checker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decision_note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    # The month the correction makes up for ('M2026-10': 补记上月漏记), where the points count
    # on boards and statements if that month is still open when it posts; None: this month.
    counts_in: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    maker: Mapped[Person] = relationship(foreign_keys=[maker_id])
    checker: Mapped[Person | None] = relationship(foreign_keys=[checker_id])

    replayed = False


class DeedReport(Model):
    """A good deed a resident reports themselves (好人好事), for staff to award under a deed
    rule or to decline with a reason the resident is told."""

    __tablename__ = "deed_reports"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'declined')", name="status"),
        Index("ix_deed_reports_status_community_id", "status", "community_id"),
        Index("ix_deed_reports_person_id_day", "person_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    text: Mapped[str] = mapped_column(String(300))
    # A photo as evidence (stored_files, kind deed-photo): staff of the community see it.
    photo: Mapped[str | None] = mapped_column(String(60))
    # The resident's local day it was reported on: several the same day are flagged.
    day: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("deed_rules.id"))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    rule: Mapped[DeedRule | None] = relationship()
