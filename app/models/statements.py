"""The monthly red-credit statement (红色信用 公示) and objections (异议) raised against it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime
from app.models.org import OrgUnit
from app.models.people import Person


class Statement(Model):
    """One community's month. A draft can be generated again; publishing freezes the
    snapshot (`lines`) and records its SHA-256, so later ledger changes never alter it."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("community_id", "month"),
        CheckConstraint("status IN ('draft', 'published')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    month: Mapped[str] = mapped_column(String(7))  # 2026-11
    status: Mapped[str] = mapped_column(String(10), default="draft")
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The month's needs per grid (raised, solved, still open, median hours, mean rating),
    # frozen with the lines; None for statements made before needs were counted.
    need_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # The public display period (公示期) ends at this moment.
    display_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    community: Mapped[OrgUnit] = relationship()


class Objection(Model):
    """A resident's objection to their own line of a published statement."""

    __tablename__ = "objections"
    __table_args__ = (CheckConstraint("status IN ('open', 'answered')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="open")
    answer: Mapped[str] = mapped_column(String(500), default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    adjustment_id: Mapped[int | None] = mapped_column(ForeignKey("adjustments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    statement: Mapped[Statement] = relationship()
    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class Honour(Model):
    """An honour (社区好人, 最美三长 …) given to a person for a month ('2026-11') or a
    year ('2026')."""

    __tablename__ = "honours"
    __table_args__ = (UniqueConstraint("person_id", "title", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    title: Mapped[str] = mapped_column(String(30))
    period: Mapped[str] = mapped_column(String(7), index=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
