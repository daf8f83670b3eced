"""The organisation tree: street → community → grid → building → unit → household."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime, utc_default

if TYPE_CHECKING:
    from app.models.people import Person

# The levels of the tree, top down; a node's parent is of the level just above it.
ORG_KINDS = ("street", "community", "grid", "building", "unit", "household")


class OrgUnit(Model):
    """One node of the tree. `path` ('/1/4/17/') finds a whole subtree with one LIKE."""

    __tablename__ = "org_units"
    __table_args__ = (
        UniqueConstraint("parent_id", "kind", "name"),
        CheckConstraint(
            "kind IN ('street', 'community', 'grid', 'building', 'unit', 'household')",
            name="kind",
        ),
        CheckConstraint("monthly_budget IS NULL OR monthly_budget >= 0", name="budget"),
        Index("ix_org_units_path", "path"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    # The community this node lies in (itself for a community); None for a street.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    path: Mapped[str] = mapped_column(String(255), default="")
    # Community settings: shown times and the monthly issuing budget (None = no limit).
    timezone: Mapped[str | None] = mapped_column(String(64))
    monthly_budget: Mapped[int | None]
    # The community's number residents text (签到, 记录 …) or call, shown to them.
    contact_number: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)

    parent: Mapped[OrgUnit | None] = relationship(
        remote_side=[id], foreign_keys=[parent_id], back_populates="children"
    )
    children: Mapped[list[OrgUnit]] = relationship(
        foreign_keys=[parent_id], back_populates="parent", order_by="OrgUnit.name"
    )

    def __repr__(self) -> str:
        return f"<OrgUnit {self.kind} {self.name!r} #{self.id}>"


class Team(Model):
    """A service team (服务队) such as 小巷骑兵, with its listed duties (职责清单)."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    duties: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)

    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", cascade="all, delete-orphan"
    )


class TeamMember(Model):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True, index=True)
    is_leader: Mapped[bool] = mapped_column(default=False)

    team: Mapped[Team] = relationship(back_populates="members")
    person: Mapped[Person] = relationship()
