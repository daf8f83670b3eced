"""Files people upload, kept in the database so that every application server sees them:
import files between their check and their confirmation, and offer and partner photos."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime, utc_default
from app.models.org import OrgUnit
from app.models.people import Person


class StoredFile(Model):
    __tablename__ = "stored_files"
    __table_args__ = (
        UniqueConstraint("kind", "name"),
        CheckConstraint(
            "kind IN ('import', 'offer-photo', 'merchant-photo', 'activity-photo', 'deed-photo', "
            "'need-photo', 'deduction-photo')",
            name="kind",
        ),
        # The purge job's question: what has run out.
        Index("ix_stored_files_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # The name in URLs and in the row that uses it (Offer.photo, a resident import's token).
    name: Mapped[str] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    # None: kept while something uses it (a photo); else deleted by `flask purge` after.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ResidentImport(Model):
    """A CSV of residents from its check (the preview's counts) to its last row written.

    Applied in chunks, each its own transaction, so that no write lock is held for long;
    `last_line` is where it got to, so an interrupted import goes on from there.
    """

    __tablename__ = "resident_imports"
    __table_args__ = (
        CheckConstraint("status IN ('checked', 'applying', 'done')", name="status"),
        Index("ix_resident_imports_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"))
    file_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    may_move: Mapped[bool] = mapped_column(Boolean, default=False)
    # Chosen at the confirmation: write the good rows and leave the bad ones out.
    skip_bad: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="checked")
    encoding: Mapped[str] = mapped_column(String(20), default="")
    # The check's counts, as the preview showed them.
    new: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    moved: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    bad: Mapped[int] = mapped_column(default=0)
    # Progress: good rows written so far, the file's line the last chunk ended at, and how
    # many people were created or changed.
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    last_line: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    file: Mapped[StoredFile | None] = relationship()
    community: Mapped[OrgUnit] = relationship()
    actor: Mapped[Person | None] = relationship()
