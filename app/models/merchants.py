"""Red partner (红色合伙人) merchants, their operators and their offers."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime, utc_default
from app.models.org import OrgUnit
from app.models.people import Person

MERCHANT_TIERS = ("street", "community")
OFFER_KINDS = ("discount", "service", "goods")


class Merchant(Model):
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
    # Set by staff: a new or changed offer of this merchant waits for their approval.
    offers_need_approval: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)

    communities: Mapped[list[OrgUnit]] = relationship(secondary="merchant_communities")
    offers: Mapped[list[Offer]] = relationship(back_populates="merchant", order_by="Offer.id")


class MerchantCommunity(Model):
    """The communities whose volunteers a merchant serves."""

    __tablename__ = "merchant_communities"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True)


class MerchantOperator(Model):
    __tablename__ = "merchant_operators"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True, index=True)

    merchant: Mapped[Merchant] = relationship()
    person: Mapped[Person] = relationship()


class Offer(Model):
    """Something a merchant gives for points (兑换项目).

    `stock` (None: unlimited) is decremented by each redemption with a conditional update;
    the daily quota and the per-person monthly limit are kept in counter rows
    (OfferDayCount, OfferPersonMonth) the same way, so they hold under concurrency.
    `review` is 'live', or 'pending' / 'rejected' where staff approve a merchant's offers.
    """

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("kind IN ('discount', 'service', 'goods')", name="kind"),
        CheckConstraint("points_cost > 0", name="cost_positive"),
        CheckConstraint("money_value_fen IS NULL OR money_value_fen >= 0", name="money"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock"),
        CheckConstraint("daily_quota IS NULL OR daily_quota > 0", name="daily_quota"),
        CheckConstraint("monthly_limit IS NULL OR monthly_limit > 0", name="monthly_limit"),
        CheckConstraint("max_quantity >= 1", name="max_quantity"),
        CheckConstraint("review IN ('live', 'pending', 'rejected')", name="review"),
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
    stock: Mapped[int | None]
    daily_quota: Mapped[int | None]
    # Units one person may take per calendar month.
    monthly_limit: Mapped[int | None]
    # Units in one redemption (1 for a haircut; more for goods).
    max_quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A file name under instance/uploads/offers (an image checked on upload).
    photo: Mapped[str | None] = mapped_column(String(80))
    review: Mapped[str] = mapped_column(String(10), default="live", server_default="live")
    review_note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    merchant: Mapped[Merchant] = relationship(back_populates="offers")


class OfferDayCount(Model):
    """Units of an offer taken on one local day (for the daily quota)."""

    __tablename__ = "offer_day_counts"

    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # 2026-11-24
    used: Mapped[int] = mapped_column(default=0)


class OfferPersonMonth(Model):
    """Units of an offer one person took in one month (for the per-person limit)."""

    __tablename__ = "offer_person_months"

    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # 2026-11
    used: Mapped[int] = mapped_column(default=0)


class Redemption(Model):
    """Points spent at a merchant: one per volunteer code (code_id UNIQUE), with a receipt.

    A void is a reversing ledger transaction; the row keeps who voided it and why.
    """

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity"),
        CheckConstraint("points > 0", name="points"),
        Index("ix_redemptions_merchant_id_created_at", "merchant_id", "created_at"),
        Index("ix_redemptions_person_id_created_at", "person_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_no: Mapped[str] = mapped_column(String(20), unique=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # The volunteer's personal code this redemption used up: one code, one redemption.
    code_id: Mapped[int | None] = mapped_column(unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    quantity: Mapped[int]
    points: Mapped[int]
    money_value_fen: Mapped[int | None]
    # The local day and month it counts in (quotas, statements).
    day: Mapped[str] = mapped_column(String(10))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    void_reason: Mapped[str] = mapped_column(String(200), default="")
    void_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))

    merchant: Mapped[Merchant] = relationship()
    offer: Mapped[Offer] = relationship()
    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    operator: Mapped[Person | None] = relationship(foreign_keys=[operator_id])
    voided_by: Mapped[Person | None] = relationship(foreign_keys=[voided_by_id])

    # Set by redemptions.redeem on what it returns: True when the idempotency key had been
    # used before (the first receipt is returned). Not stored.
    replayed = False
