"""Needs and problems residents raise (需求 / 诉求): the kinds staff keep, each need's way
from triage by the 三长 to a taker, its confirmation, payment and rating, and its timeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime, utc_default
from app.models.merchants import Merchant
from app.models.org import OrgUnit, Team
from app.models.people import Person

NEED_STATUSES = ("open", "taken", "done", "disputed", "confirmed", "closed", "merged")
# Who looks at an open need first, in order; a step with nobody in it is skipped, and the
# community's staff are the last.
NEED_STEPS = ("team", "unit_leader", "building_leader", "grid_leader", "community")


class NeedKind(Model):
    """A kind of need staff keep (help at home, repairs, ...): who handles it by default,
    how long each step of triage may take, and the points its taker is paid."""

    __tablename__ = "need_kinds"
    __table_args__ = (
        CheckConstraint("points >= 0", name="points"),
        CheckConstraint("step_hours > 0", name="step_hours"),
        CheckConstraint("monthly_limit IS NULL OR monthly_limit > 0", name="monthly_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: the street's, used by every community.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    # Words that pick this kind for a need texted in (水管 漏水 → repairs), space-separated.
    keywords: Mapped[str] = mapped_column(String(200), default="")
    points: Mapped[int] = mapped_column(default=0)
    # Hours each triage step has before the need climbs to the next.
    step_hours: Mapped[int] = mapped_column(default=24)
    # A team that handles it by default (else the 三长 of the place, then the staff).
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # How many needs of this kind one taker may be paid for in a month.
    monthly_limit: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)

    team: Mapped[Team | None] = relationship()


class Need(Model):
    """One need or problem, from the resident's words to its confirmation."""

    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'taken', 'done', 'disputed', 'confirmed', 'closed', 'merged')",
            name="status",
        ),
        CheckConstraint(
            "step IN ('team', 'unit_leader', 'building_leader', 'grid_leader', 'community')",
            name="step",
        ),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
        Index("ix_needs_community_id_status", "community_id", "status"),
        Index("ix_needs_status_step_due_at", "status", "step_due_at"),
        Index("ix_needs_resident_id_status", "resident_id", "status"),
        Index("ix_needs_taker_id_status", "taker_id", "status"),
        Index("ix_needs_grid_id_status", "grid_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    kind_id: Mapped[int] = mapped_column(ForeignKey("need_kinds.id"))
    text: Mapped[str] = mapped_column(String(300))
    # Where: a node of the tree (the resident's household by default, or a building) ...
    place_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    # ... and its grid, kept so that a grid's volunteers and board find it by index.
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    # A public place in words (小区东门), when it is not a home.
    place_note: Mapped[str] = mapped_column(String(100), default="")
    resident_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    posted_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    source: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="open")
    # Triage: who looks at it now (NEED_STEPS), on which node, until when.
    step: Mapped[str] = mapped_column(String(20))
    step_node_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    step_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who does it: a volunteer (or a team, whose member takes it).
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # Matched to an offer of the resources list; a partner unit's (its operators take it).
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    # Passed to a department of the street (社区吹哨、部门报到: 城管, 房管所 …), whose answer
    # a worker records.
    department: Mapped[str] = mapped_column(String(50), default="", server_default="")
    taker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_note: Mapped[str] = mapped_column(String(200), default="")
    dispute_reason: Mapped[str] = mapped_column(String(200), default="")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # The taker's points: the posting once paid, else why not yet (the budget, a limit).
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    unpaid_reason: Mapped[str] = mapped_column(String(200), default="")
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str] = mapped_column(String(200), default="")
    # Closed by a worker (with a reason the resident reads), or merged into another.
    close_reason: Mapped[str] = mapped_column(String(200), default="")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    kind: Mapped[NeedKind] = relationship()
    resident: Mapped[Person] = relationship(foreign_keys=[resident_id])
    posted_by: Mapped[Person] = relationship(foreign_keys=[posted_by_id])
    taker: Mapped[Person | None] = relationship(foreign_keys=[taker_id])
    team: Mapped[Team | None] = relationship()
    resource: Mapped[Resource | None] = relationship()
    merchant: Mapped[Merchant | None] = relationship()
    place: Mapped[OrgUnit | None] = relationship(foreign_keys=[place_id])
    grid: Mapped[OrgUnit | None] = relationship(foreign_keys=[grid_id])
    community: Mapped[OrgUnit] = relationship(foreign_keys=[community_id])
    step_node: Mapped[OrgUnit | None] = relationship(foreign_keys=[step_node_id])
    photos: Mapped[list[NeedPhoto]] = relationship(
        order_by="NeedPhoto.position", cascade="all, delete-orphan"
    )
    events: Mapped[list[NeedEvent]] = relationship(
        order_by="NeedEvent.id", cascade="all, delete-orphan"
    )


class NeedPhoto(Model):
    """Up to three photos of a need (stored_files, kind need-photo)."""

    __tablename__ = "need_photos"

    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(60))


class NeedEvent(Model):
    """One step in a need's timeline, as the resident and the staff read it."""

    __tablename__ = "need_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    note: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    actor: Mapped[Person | None] = relationship()


class NeedCount(Model):
    """How many needs of a kind a taker was paid for in a month ('M2026-12')."""

    __tablename__ = "need_counts"

    kind_id: Mapped[int] = mapped_column(ForeignKey("need_kinds.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    used: Mapped[int] = mapped_column(default=0)


RESOURCE_KINDS = ("offer", "post")
CAPACITY_UNITS = ("times", "hours", "people")


class Resource(Model):
    """One line of the resources list (资源清单): what a partner unit or a person offers (a
    lawyer's two hours a month, a clinic's free checks, a volunteer's skill) — an `offer`,
    matched to needs — or a service post (岗位) the community lists for working party members
    and volunteers to claim — a `post`. `capacity` a month (offers: matches; posts: people)."""

    __tablename__ = "resources"
    __table_args__ = (
        CheckConstraint("kind IN ('offer', 'post')", name="kind"),
        CheckConstraint("capacity_unit IN ('times', 'hours', 'people')", name="capacity_unit"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity"),
        CheckConstraint(
            "claimed >= 0 AND (capacity IS NULL OR claimed <= capacity)", name="claimed"
        ),
        CheckConstraint(
            "provider_person_id IS NULL OR provider_merchant_id IS NULL", name="one_provider"
        ),
        Index("ix_resources_community_id_kind", "community_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: the street's, for every community.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    # Who gives it (an offer): a person, or a partner unit (共建单位, a red partner) whose
    # operators answer for it. A post is the community's own.
    provider_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    provider_merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    capacity: Mapped[int | None]
    capacity_unit: Mapped[str] = mapped_column(String(10), default="times")
    # A post's people who hold it now (kept beside the capacity: a claim is one UPDATE).
    claimed: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)

    provider_person: Mapped[Person | None] = relationship(foreign_keys=[provider_person_id])
    provider_merchant: Mapped[Merchant | None] = relationship()


class ResourceClaim(Model):
    """A person holding a service post (岗位认领), from when to when."""

    __tablename__ = "resource_claims"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'ended')", name="status"),
        Index("ix_resource_claims_person_id_status", "person_id", "status"),
        # One person holds a post once at a time (a double tap claims one place).
        Index(
            "uq_resource_claims_holding",
            "resource_id",
            "person_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    status: Mapped[str] = mapped_column(String(10), default="active")
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    resource: Mapped[Resource] = relationship()
    person: Mapped[Person] = relationship()


class ResourceUse(Model):
    """How many needs an offer was matched to in a month ('M2026-12'), against its capacity."""

    __tablename__ = "resource_uses"

    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    used: Mapped[int] = mapped_column(default=0)


class PartyReport(Model):
    """A working party member's report to their residential community (在职党员报到):
    when, where they work, their party branch."""

    __tablename__ = "party_reports"
    __table_args__ = (UniqueConstraint("person_id", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    employer: Mapped[str] = mapped_column(String(100))
    branch: Mapped[str] = mapped_column(String(100), default="")
    # The community's local day of the report.
    reported_on: Mapped[str] = mapped_column(String(10))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
