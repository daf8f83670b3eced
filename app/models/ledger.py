"""The double-entry points ledger. Only `app.ledger` writes these tables.

Entries and transactions are append-only (database triggers refuse UPDATE and DELETE);
a mistake is undone by a reversing transaction that points at the one it reverses.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.extensions import Model
from app.models.base import Points, UTCDateTime, utc_default
from app.models.people import Person

# wallet: a participant's points, never below zero. issuance: a community's source of
# points (negative = points outstanding). merchant: points a red partner has received.
ACCOUNT_KINDS = ("wallet", "issuance", "merchant")
# Who an account belongs to: not only people (households, merchants, organisations too).
OWNER_TYPES = ("person", "household", "merchant", "org_unit")


class Account(Model):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("kind", "owner_type", "owner_id"),
        CheckConstraint("kind IN ('wallet', 'issuance', 'merchant')", name="kind"),
        CheckConstraint(
            "owner_type IN ('person', 'household', 'merchant', 'org_unit')", name="owner_type"
        ),
        # The database itself refuses an overdrawn wallet, whatever the code above does.
        CheckConstraint("kind <> 'wallet' OR balance >= 0", name="wallet_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner_type: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int]
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    # Cached sum of this account's entries, kept by ledger.post in the same transaction.
    balance: Mapped[int] = mapped_column(Points, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default)

    def __repr__(self) -> str:
        return f"<Account #{self.id} {self.kind} {self.owner_type}:{self.owner_id}>"


class LedgerTransaction(Model):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    memo: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # A digest of kind and entries: the same key with other content is a conflict.
    fingerprint: Mapped[str] = mapped_column(String(64))
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_default, index=True)

    actor: Mapped[Person | None] = relationship()
    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="transaction", order_by="LedgerEntry.id"
    )
    reverses: Mapped[LedgerTransaction | None] = relationship(
        remote_side=[id], foreign_keys=[reverses_id]
    )

    # Set by ledger.post on what it returns: True when the key had been posted before, so
    # the caller does not announce or log the same posting twice. Not stored.
    replayed = False

    def __repr__(self) -> str:
        return f"<LedgerTransaction #{self.id} {self.kind} {self.idempotency_key!r}>"


class LedgerEntry(Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(Points)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[Account] = relationship()


class PeriodTotal(Model):
    """Points an account earned (wallet) or issued (issuance) in a period, kept on posting.

    Periods: 'M2026-11' (month), 'Y2026' (year), 'ALL'. Boards and budgets read these rows
    instead of scanning the ledger; (period, amount) is indexed for top-N reads.
    """

    __tablename__ = "period_totals"
    __table_args__ = (Index("ix_period_totals_period_amount", "period", "amount"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    amount: Mapped[int] = mapped_column(Points, default=0)
