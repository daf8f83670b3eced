"""Services for red partner merchants (offers and redemption arrive with their issue)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.models import Merchant, MerchantOperator, Person


@dataclass(frozen=True)
class ShopView:
    merchant: Merchant
    points_received: int


def operated_by(person: Person) -> list[ShopView]:
    """The merchants this operator works for, with the points each has received."""
    merchants = db.session.scalars(
        sa.select(Merchant)
        .join(MerchantOperator, MerchantOperator.merchant_id == Merchant.id)
        .where(MerchantOperator.person_id == person.id)
        .order_by(Merchant.id)
    )
    views = []
    for merchant in merchants:
        account = ledger.find_account("merchant", "merchant", merchant.id)
        views.append(ShopView(merchant, account.balance if account else 0))
    return views
