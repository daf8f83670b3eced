"""The double-entry points ledger. Only `app.ledger` writes these tables.

Entries and transactions are append-only (database triggers refuse UPDATE and DELETE);
a mistake is undone by a reversing transaction that points at the one it reverses.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, UniqueConstraint
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
    # How many entries were posted with it (a control count, like a batch header's): the
    # check proves every transaction whole without grouping the entries by transaction.
    entry_count: Mapped[int] = mapped_column(server_default="0")

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
    # The month ('M2026-11') whose earned or issued totals this entry counts in: set on the
    # wallet and issuance legs of an earning and of a reversal of one, None on every other
    # entry. Recorded when posted, like the amount, so `ledger-check` recounts the period
    # totals from the entries alone.
    earned_in: Mapped[str | None] = mapped_column(String(8))

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[Account] = relationship()


class PeriodTotal(Model):
    """Points an account earned (wallet) or issued (issuance) in a period, kept on posting.

    Periods: 'M2026-11' (month), 'Y2026' (year), 'ALL'. Boards and budgets read these rows
    instead of scanning the ledger. A board's top is read straight off the index (period,
    kind, amount, account, person): wallets only (the communities' far larger issued totals
    are not in the way), in the board's own order, so even a tie of thousands at the top is
    not sorted, and with the person whose wallet it is, so a line of the board goes from the
    index to its person without reading the account.
    """

    __tablename__ = "period_totals"
    __table_args__ = (
        Index(
            "ix_period_totals_board", "period", "account_kind", "amount", "account_id", "person_id"
        ),
        CheckConstraint("account_kind IN ('wallet', 'issuance')", name="account_kind"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    # The account's kind, kept beside its totals for the index.
    account_kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Points, default=0)
    # The person whose wallet it is (None for a household's wallet and an issuance
    # account), kept beside the totals for the index; an account's owner never changes.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class BoardCount(Model):
    """A board's histogram: how many wallets of a scope ('street', 'community:3') earned each
    amount in a period, kept in the posting transaction beside the period totals.

    "My rank" sums the counts above my amount (one row per distinct amount, a few thousand
    at most) instead of counting a million people ahead. Each amount is spread over a few
    rows by wallet id (`shard`), so two postings at once rarely wait on one row. Rows that
    fall to zero stay (they are reused); `flask rebuild-boards` recomputes the whole table
    from the period totals, and `flask ledger-check` compares the two.
    """

    __tablename__ = "board_counts"

    scope: Mapped[str] = mapped_column(String(24), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    amount: Mapped[int] = mapped_column(Points, primary_key=True, autoincrement=False)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    wallets: Mapped[int] = mapped_column(default=0)
