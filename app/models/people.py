"""People, their places in the tree, tags, 三长 roles and user roles."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime, utc_default
from app.models.org import OrgUnit

if TYPE_CHECKING:
    from app.models.ledger import Account

USER_ROLES = ("staff", "admin", "merchant")
# A 三长 role and the level of the tree it is held on.
LEADER_ROLES = {"grid_leader": "grid", "building_leader": "building", "unit_leader": "unit"}


class Person(UserMixin, Model):
    """Anyone the server knows. The E.164 phone number is the identity.

    Residents sign in with a code sent to their phone; staff and merchant operators also
    have a password. `verified_minutes` caches the verified service time that star levels
    and boards read, kept by the attendance service in the same transaction.
    """

    __tablename__ = "people"
    __table_args__ = (
        CheckConstraint("verified_minutes >= 0", name="minutes"),
        CheckConstraint("locale IN ('zh', 'en')", name="locale"),
        # The few who opted out of the boards: a rank from the board's histogram takes
        # them back out by reading just these rows.
        Index(
            "ix_people_hidden_from_boards",
            "id",
            postgresql_where=sa.text("hide_from_boards"),
            sqlite_where=sa.text("hide_from_boards"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    login: Mapped[str | None] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    locale: Mapped[str] = mapped_column(String(5), default="zh")
    hide_from_boards: Mapped[bool] = mapped_column(default=False)
    # 退订 / STOP: no notifications by text message or chat (replies to commands still go).
    notifications_off: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # 退订 in answer to a group message: no more broadcasts; personal notices still go.
    broadcasts_off: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    verified_minutes: Mapped[int] = mapped_column(default=0)
    is_active_account: Mapped[bool] = mapped_column(default=True)
    # Part of every session cookie and remember-me token (get_id): raising it on sign-out,
    # a new password or deactivation ends every session of the person at once.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utc_default, onupdate=utc_default
    )

    community: Mapped[OrgUnit | None] = relationship(foreign_keys=[community_id])
    org_unit: Mapped[OrgUnit | None] = relationship(foreign_keys=[org_unit_id])
    tags: Mapped[list[PersonTag]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="PersonTag.tag"
    )
    roles: Mapped[list[PersonRole]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )
    staff_communities: Mapped[list[StaffCommunity]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )
    # The points wallet (app.points.ledger.wallet_for opens it): a relationship so that a
    # hot path can load it with the person in one statement (joinedload).
    wallet: Mapped[Account | None] = relationship(
        primaryjoin="and_(foreign(Account.owner_id) == Person.id, "
        "Account.owner_type == 'person', Account.kind == 'wallet')",
        viewonly=True,
        uselist=False,
    )

    @property
    def is_active(self) -> bool:  # Flask-Login: a deactivated account cannot sign in
        return self.is_active_account

    def get_id(self) -> str:  # Flask-Login's alternative id: "<id>.<session version>"
        return f"{self.id}.{self.session_version}"

    def has_role(self, role: str) -> bool:
        return any(r.role == role for r in self.roles)

    @property
    def tag_names(self) -> list[str]:
        return [t.tag for t in self.tags]

    def __repr__(self) -> str:
        return f"<Person #{self.id} {self.name!r}>"


class PersonTag(Model):
    """A label such as 党员 (party member) or 在职党员 (working party member)."""

    __tablename__ = "person_tags"
    __table_args__ = (UniqueConstraint("person_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    tag: Mapped[str] = mapped_column(String(30), index=True)

    person: Mapped[Person] = relationship(back_populates="tags")


class PersonRole(Model):
    """What a person may do beyond being a resident: staff, admin, merchant operator."""

    __tablename__ = "person_roles"
    __table_args__ = (
        UniqueConstraint("person_id", "role"),
        CheckConstraint("role IN ('staff', 'admin', 'merchant')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))

    person: Mapped[Person] = relationship(back_populates="roles")


class StaffCommunity(Model):
    """The communities a social worker acts on (an admin acts on all)."""

    __tablename__ = "staff_communities"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True)

    person: Mapped[Person] = relationship(back_populates="staff_communities")
    community: Mapped[OrgUnit] = relationship()


class LeaderRole(Model):
    """A 三长 role (grid, building or unit leader) held by a person on a node of the tree."""

    __tablename__ = "leader_roles"
    __table_args__ = (
        UniqueConstraint("org_unit_id", "role", "person_id"),
        CheckConstraint("role IN ('grid_leader', 'building_leader', 'unit_leader')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))

    person: Mapped[Person] = relationship()
    org_unit: Mapped[OrgUnit] = relationship()
