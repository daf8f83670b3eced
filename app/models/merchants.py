"""Red partner (红色合伙人) merchants, their operators and their offers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utc_default
from app.models.org import OrgUnit
from app.models.people import Person

MERCHANT_TIERS = ("street", "community")
OFFER_KINDS = ("discount", "service", "goods")


class Merchant(db.Model):
    __tablename__ = "merchants"
    __table_args__ = (CheckConstraint("tier IN ('street', 'community')", name="tier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # street: 街道级 (supermarkets, cinemas, hospitals); community: 社区级 (barbers, clinics)
    tier: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(30))
    address: Mapped[str] = mapped_column(String(200), default="")
    opening_hours: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)

    communities: Mapped[list[OrgUnit]] = relationship(secondary="merchant_communities")
    offers: Mapped[list[Offer]] = relationship(back_populates="merchant", order_by="Offer.id")


class MerchantCommunity(db.Model):
    """The communities whose volunteers a merchant serves."""

    __tablename__ = "merchant_communities"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True)


class MerchantOperator(db.Model):
    __tablename__ = "merchant_operators"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True, index=True)

    merchant: Mapped[Merchant] = relationship()
    person: Mapped[Person] = relationship()


class Offer(db.Model):
    """Something a merchant gives for points (兑换项目)."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("kind IN ('discount', 'service', 'goods')", name="kind"),
        CheckConstraint("points_cost > 0", name="cost_positive"),
        CheckConstraint("money_value_fen IS NULL OR money_value_fen >= 0", name="money"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))
    points_cost: Mapped[int]
    # What the offer stands for in money, in fen (1/100 yuan), for settlement statements.
    money_value_fen: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)

    merchant: Mapped[Merchant] = relationship(back_populates="offers")
