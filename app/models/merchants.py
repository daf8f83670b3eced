"""Red partner (红色合伙人) merchants, their operators and their offers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import UTCDateTime, utc_default
from app.models.org import OrgUnit
from app.models.people import Person

if TYPE_CHECKING:
    from app.models.ledger import Account

MERCHANT_TIERS = ("street", "community")
# proposed: a worker asked for a street-level partner, the administrator has not approved it;
# active: takes points; paused: no redemptions, offers hidden, the operator sees why;
# ended: the partnership is over (history and statements stay, nothing new).
MERCHANT_STATUSES = ("proposed", "active", "paused", "ended")
# The categories offered before staff add their own (a new one typed in a form joins the list).
DEFAULT_CATEGORIES = ("餐饮", "理发", "超市", "诊所", "书店", "影院", "医院")
OFFER_KINDS = ("discount", "service", "goods")


class Merchant(Model):
    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint("tier IN ('street', 'community')", name="tier"),
        CheckConstraint("status IN ('proposed', 'active', 'paused', 'ended')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # street: 街道级 (supermarkets, cinemas, hospitals); community: 社区级 (barbers, clinics)
    tier: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(30))
    address: Mapped[str] = mapped_column(String(200), default="")
    opening_hours: Mapped[str] = mapped_column(String(100), default="")
    contact_name: Mapped[str] = mapped_column(String(50), default="", server_default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="", server_default="")
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # A file name under the upload folder's merchants/ (checked and re-encoded on upload).
    photo: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default="active", server_default="active")
    # Why it is paused or ended, shown to its operators (and to staff).
    status_note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # Set by staff: a new or changed offer of this merchant waits for their approval.
    offers_need_approval: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    communities: Mapped[list[OrgUnit]] = relationship(
        secondary="merchant_communities", order_by="OrgUnit.name"
    )
    offers: Mapped[list[Offer]] = relationship(back_populates="merchant", order_by="Offer.id")
    # Where its redeemed points go (app.points.ledger.merchant_account opens it).
    account: Mapped[Account | None] = relationship(
        primaryjoin="and_(foreign(Account.owner_id) == Merchant.id, "
        "Account.owner_type == 'merchant', Account.kind == 'merchant')",
        viewonly=True,
        uselist=False,
    )

    @property
    def active(self) -> bool:
        """Whether it takes points now (not proposed, paused or ended)."""
        return self.status == "active"


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
    # The volunteer's community when they spent the points: its issuance account gets them
    # back when the month is settled.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
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
    # The monthly settlement that took it in (set when the month is closed): from then on
    # it can no longer be voided.
    settlement_id: Mapped[int | None] = mapped_column(ForeignKey("settlements.id"), index=True)

    merchant: Mapped[Merchant] = relationship()
    offer: Mapped[Offer] = relationship()
    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    operator: Mapped[Person | None] = relationship(foreign_keys=[operator_id])
    voided_by: Mapped[Person | None] = relationship(foreign_keys=[voided_by_id])

    # Set by redemptions.redeem on what it returns: True when the idempotency key had been
    # used before (the first receipt is returned). Not stored.
    replayed = False


class SettlementMonth(Model):
    """A month the street administrator closed with its red partners (结算). One row per
    month (UNIQUE): two administrators closing at once make one."""

    __tablename__ = "settlement_months"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # 2026-11
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    partners: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    money_value_fen: Mapped[int] = mapped_column(default=0)
    # SHA-256 over every partner's frozen lines, in partner order.
    content_hash: Mapped[str] = mapped_column(String(64))

    closed_by: Mapped[Person | None] = relationship()


class Settlement(Model):
    """One partner's month: its redemptions, voids, points and money value, frozen and
    hashed when the month is closed, and the ledger transaction that cleared its merchant
    account back to the communities that issued the points."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("merchant_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_month_id: Mapped[int] = mapped_column(ForeignKey("settlement_months.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    redemptions: Mapped[int] = mapped_column(default=0)
    voids: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    money_value_fen: Mapped[int] = mapped_column(default=0)
    # [{"offer_id", "title", "redemptions", "units", "points", "money_value_fen", "voids"}]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # [{"community_id", "name", "points"}]: where the points went back to.
    by_community: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    merchant: Mapped[Merchant] = relationship()
    settlement_month: Mapped[SettlementMonth] = relationship()
