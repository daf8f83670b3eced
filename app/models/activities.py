"""Activities, who signed up for them, and who attended (check-in, check-out, approval)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime, utc_default
from app.models.org import OrgUnit, Team
from app.models.people import Person

POINTS_RULES = ("fixed", "per_hour")
SIGNUP_STATUSES = ("confirmed", "waitlisted", "cancelled")
# checked_in: on site; pending: closed, waiting for staff; approved: verified, points
# posted; rejected: refused by staff (no points, no hours).
ATTENDANCE_STATUSES = ("checked_in", "pending", "approved", "rejected")


class Activity(Model):
    """A community activity with a time window, a capacity and a points rule.

    `points` is the fixed number for the 'fixed' rule and the points per hour for
    'per_hour'. `confirmed_count` is kept by the sign-up service under the activity's row
    lock, so a full activity never takes one more.
    """

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity"),
        CheckConstraint("points >= 0", name="points"),
        CheckConstraint("points_rule IN ('fixed', 'per_hour')", name="points_rule"),
        CheckConstraint(
            "capacity IS NULL OR confirmed_count <= capacity", name="confirmed_within_capacity"
        ),
        Index("ix_activities_community_id_starts_at", "community_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    # A cover picture for the volunteers' list (a stored_files name of kind activity-photo).
    photo: Mapped[str | None] = mapped_column(String(60))
    # The kind of service, as for deeds (elderly_care, environment, ...): hours by category.
    category: Mapped[str] = mapped_column(String(20), default="other", server_default="other")
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int | None]
    points_rule: Mapped[str] = mapped_column(String(10), default="fixed")
    points: Mapped[int] = mapped_column(default=0)
    needs_approval: Mapped[bool] = mapped_column(default=False)
    signup_required: Mapped[bool] = mapped_column(default=False)
    is_cancelled: Mapped[bool] = mapped_column(default=False)
    confirmed_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utc_default, onupdate=utc_default
    )

    community: Mapped[OrgUnit] = relationship()
    team: Mapped[Team | None] = relationship()

    @property
    def scheduled_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    def __repr__(self) -> str:
        return f"<Activity #{self.id} {self.title!r}>"


class Signup(Model):
    __tablename__ = "signups"
    __table_args__ = (
        UniqueConstraint("activity_id", "person_id"),
        CheckConstraint("status IN ('confirmed', 'waitlisted', 'cancelled')", name="status"),
        Index("ix_signups_activity_id_status_id", "activity_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    # The waiting list is served in this order (set again when someone signs up anew).
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the "starts in an hour" reminder was queued (once per sign-up).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utc_default, onupdate=utc_default
    )

    activity: Mapped[Activity] = relationship()
    person: Mapped[Person] = relationship()


class Attendance(Model):
    """One person at one activity: at most one row each, so a double scan checks in once.

    `minutes` is set when the attendance is closed. `unverified` marks time nobody
    confirmed (closed automatically at the scheduled end); approving it verifies it.
    `revision` counts corrections after approval: each posts under a new ledger key.
    """

    __tablename__ = "attendances"
    __table_args__ = (
        UniqueConstraint("activity_id", "person_id"),
        CheckConstraint(
            "status IN ('checked_in', 'pending', 'approved', 'rejected')", name="status"
        ),
        CheckConstraint("minutes IS NULL OR minutes >= 0", name="minutes"),
        CheckConstraint("checked_out_at IS NULL OR checked_out_at >= checked_in_at", name="times"),
        Index("ix_attendances_activity_id_checked_in_at", "activity_id", "checked_in_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="checked_in")
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How the person checked in: qr (own phone), staff (at the desk), chat (text message).
    method: Mapped[str] = mapped_column(String(8), default="qr")
    # How it was closed: checkout, staff, auto.
    closed_by: Mapped[str | None] = mapped_column(String(8))
    minutes: Mapped[int | None]
    unverified: Mapped[bool] = mapped_column(default=False)
    points: Mapped[int] = mapped_column(default=0)
    # Why it waits (e.g. the community's budget is used up) or why it was rejected.
    note: Mapped[str] = mapped_column(String(200), default="")
    revision: Mapped[int] = mapped_column(default=0)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # Who last set the times by hand: above the thresholds they may not approve them too.
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utc_default, onupdate=utc_default
    )

    activity: Mapped[Activity] = relationship()
    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id])
