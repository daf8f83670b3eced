"""Offers (兑换项目): what a red partner gives for points, managed by the merchant and staff."""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from app.core import audit, clock, files
from app.core.errors import BusinessRuleError, InvalidInput, NotFound
from app.core.extensions import db
from app.core.text import one_line
from app.models import (
    Merchant,
    MerchantCommunity,
    MerchantOperator,
    Offer,
    OfferDayCount,
    OfferPersonMonth,
    Person,
)
from app.models.merchants import OFFER_KINDS
from app.points import ledger

MAX_COST = 100_000
MAX_QUANTITY = 100
MAX_STOCK = 1_000_000
MAX_PHOTO_BYTES = 5 * 1024 * 1024
# A phone photo is about 12 million pixels; more is refused before decoding.
MAX_PHOTO_PIXELS = 25_000_000
PHOTO_SIDE = 1200


@dataclass
class OfferFields:
    title: str
    kind: str
    points_cost: int
    description: str = ""
    money_value_fen: int | None = None
    stock: int | None = None
    daily_quota: int | None = None
    monthly_limit: int | None = None
    max_quantity: int = 1
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    active: bool = True


def _whole(value, field: str, low: int, high: int, message) -> None:
    if value is not None and (type(value) is not int or not low <= value <= high):
        raise InvalidInput(message, field=field, min=low, max=high)


def _clean(fields: OfferFields) -> dict:
    title = one_line(
        fields.title,
        field="title",
        max_length=100,
        required=_l("A title is required."),
        too_long=_l("The title is longer than %(max)s characters."),
    )
    if fields.kind not in OFFER_KINDS:
        raise InvalidInput(_l("Choose discount, service or goods."), field="kind")
    if fields.points_cost is None:
        raise InvalidInput(_l("How many points does it cost?"), field="points_cost")
    _whole(
        fields.points_cost,
        "points_cost",
        1,
        MAX_COST,
        _l("The cost must be a whole number of points from %(min)s to %(max)s."),
    )
    _whole(
        fields.money_value_fen,
        "money_value_fen",
        0,
        10_000_000,
        _l("The money value must be between %(min)s and %(max)s fen."),
    )
    _whole(fields.stock, "stock", 0, MAX_STOCK, _l("Stock must be from %(min)s to %(max)s."))
    _whole(
        fields.daily_quota,
        "daily_quota",
        1,
        MAX_STOCK,
        _l("The daily quota must be from %(min)s to %(max)s, or empty."),
    )
    _whole(
        fields.monthly_limit,
        "monthly_limit",
        1,
        MAX_QUANTITY,
        _l("The monthly limit per person must be from %(min)s to %(max)s, or empty."),
    )
    _whole(
        fields.max_quantity,
        "max_quantity",
        1,
        MAX_QUANTITY,
        _l("Units per redemption must be from %(min)s to %(max)s."),
    )
    if fields.valid_from and fields.valid_to and fields.valid_to <= fields.valid_from:
        raise InvalidInput(_l("The end of validity must be after its start."), field="valid_to")
    description = (fields.description or "").strip()
    if len(description) > 2000:
        raise InvalidInput(
            _l("The description is longer than %(max)s characters."),
            field="description",
            max=2000,
        )
    return {
        "title": title,
        "kind": fields.kind,
        "points_cost": fields.points_cost,
        "description": description,
        "money_value_fen": fields.money_value_fen,
        "stock": fields.stock,
        "daily_quota": fields.daily_quota,
        "monthly_limit": fields.monthly_limit,
        "max_quantity": fields.max_quantity or 1,
        "valid_from": fields.valid_from,
        "valid_to": fields.valid_to,
        "active": bool(fields.active),
    }


def _snapshot(offer: Offer) -> dict:
    return {
        key: (value.isoformat() if isinstance(value, datetime) else value)
        for key, value in (
            ("title", offer.title),
            ("kind", offer.kind),
            ("points_cost", offer.points_cost),
            ("money_value_fen", offer.money_value_fen),
            ("stock", offer.stock),
            ("daily_quota", offer.daily_quota),
            ("monthly_limit", offer.monthly_limit),
            ("max_quantity", offer.max_quantity),
            ("valid_from", offer.valid_from),
            ("valid_to", offer.valid_to),
            ("active", offer.active),
            ("review", offer.review),
        )
    }


# What a merchant may change without staff looking again (stock and the on/off switch).
_MINOR = {"stock", "active"}


def _ensure_not_ended(merchant: Merchant) -> None:
    if merchant.status == "ended":  # history stays; nothing new
        raise BusinessRuleError(_l("This partnership has ended."), field="title")


def create_offer(
    merchant: Merchant,
    fields: OfferFields,
    *,
    actor: Person | None,
    by_staff: bool,
    now: datetime,
    source: str,
) -> Offer:
    """A new offer; it waits for staff when the merchant's offers need approval."""
    _ensure_not_ended(merchant)
    values = _clean(fields)
    review = "pending" if merchant.offers_need_approval and not by_staff else "live"
    offer = Offer(merchant_id=merchant.id, review=review, created_at=now, updated_at=now, **values)
    db.session.add(offer)
    db.session.flush()
    audit.record("offer.create", offer, actor=actor, source=source, now=now, after=_snapshot(offer))
    return offer


def update_offer(
    offer: Offer,
    fields: OfferFields,
    *,
    actor: Person | None,
    by_staff: bool,
    now: datetime,
    source: str,
) -> Offer:
    _ensure_not_ended(offer.merchant)
    values = _clean(fields)
    before = _snapshot(offer)
    for key, value in values.items():
        setattr(offer, key, value)
    changed = {key for key in values if before.get(key) != _snapshot(offer).get(key)}
    if not changed:
        return offer
    if offer.merchant.offers_need_approval and not by_staff and changed - _MINOR:
        offer.review = "pending"
    offer.updated_at = now
    db.session.flush()
    audit.record(
        "offer.update",
        offer,
        actor=actor,
        source=source,
        now=now,
        before=before,
        after=_snapshot(offer),
    )
    return offer


def review_offer(offer: Offer, *, approve: bool, note: str, actor: Person, now: datetime) -> Offer:
    """Staff let a pending offer go live, or send it back with a note."""
    if offer.review != "pending":
        raise BusinessRuleError(_l("This offer is not waiting for approval."), field="offer")
    if not approve and not (note or "").strip():
        raise InvalidInput(_l("Say why the offer is sent back."), field="note")
    before = {"review": offer.review}
    offer.review = "live" if approve else "rejected"
    offer.review_note = (note or "").strip()[:200]
    offer.updated_at = now
    db.session.flush()
    audit.record(
        "offer.review",
        offer,
        actor=actor,
        source="panel",
        now=now,
        before=before,
        after={"review": offer.review},
        reason=offer.review_note,
    )
    return offer


def set_offers_need_approval(
    merchant: Merchant, required: bool, *, actor: Person, now: datetime
) -> None:
    """Staff decide whether this merchant's new and changed offers wait for them."""
    if merchant.offers_need_approval == required:
        return
    merchant.offers_need_approval = required
    db.session.flush()
    audit.record(
        "merchant.offers_need_approval",
        merchant,
        actor=actor,
        source="panel",
        now=now,
        before={"offers_need_approval": not required},
        after={"offers_need_approval": required},
    )


def _serving(community_ids: set[int] | None):
    """Merchants serving any of these communities (None: all), as a query."""
    query = sa.select(Merchant)
    if community_ids is not None:
        served = sa.select(MerchantCommunity.merchant_id).where(
            MerchantCommunity.community_id.in_(community_ids)
        )
        query = query.where(Merchant.id.in_(served))
    return query


def merchants_for_staff(community_ids: set[int] | None) -> list[Merchant]:
    """Merchants serving any of these communities (None: all)."""
    return list(
        db.session.scalars(_serving(community_ids).order_by(Merchant.tier.desc(), Merchant.name))
    )


def merchant_for_staff(merchant_id: int, community_ids: set[int] | None) -> Merchant:
    """One merchant, if it serves one of these communities; another is "not found"."""
    merchant = db.session.scalar(_serving(community_ids).where(Merchant.id == merchant_id))
    if merchant is None:
        raise NotFound(_l("There is no such shop."), field="merchant")
    return merchant


def prepare_photo(data: bytes) -> bytes:
    """Check an uploaded image and re-encode it small as JPEG (dropping EXIF, e.g. the
    location). Touches no database: the edge calls it before the unit of work writes.

    The size in pixels is read from the header and bounded before anything is decoded, so a
    small file that would unpack into gigabytes (a "decompression bomb") is refused at once.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(
            _l("The photo is larger than %(max)s MB."), field="photo", max=MAX_PHOTO_BYTES >> 20
        )
    too_big = InvalidInput(
        _l("The photo has more than %(max)s million pixels; send a smaller one."),
        field="photo",
        max=MAX_PHOTO_PIXELS // 1_000_000,
    )
    try:
        with warnings.catch_warnings():  # Pillow only warns between its limit and twice it
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
            if image.format not in ("JPEG", "PNG", "WEBP"):
                raise InvalidInput(
                    _l("The photo must be a JPEG, PNG or WebP image."), field="photo"
                )
            if image.width * image.height > MAX_PHOTO_PIXELS:
                raise too_big
            image.draft("RGB", (PHOTO_SIDE, PHOTO_SIDE))  # JPEG: decode at a smaller scale
            picture = image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's bound
        raise too_big from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidInput(_l("This file is not a photo we can read."), field="photo") from None
    picture.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def save_photo(offer: Offer, jpeg: bytes, *, now: datetime) -> str:
    """Keep a photo made by `prepare_photo` as the offer's (the one it replaces goes)."""
    offer.photo = files.replace_photo("offer-photo", offer.id, offer.photo, jpeg, now=now)
    db.session.flush()
    return offer.photo


# --- reading ------------------------------------------------------------------------------


def get_offer(offer_id: int) -> Offer:
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(_l("There is no such offer."), field="offer")
    return offer


def operated_offer(person: Person, offer_id: int) -> Offer | None:
    """An offer of a shop `person` operates, with its shop and the shop's account, in one
    statement (the till's redemption path); None for anyone else's offer."""
    return db.session.scalar(_operated_offer(), {"offer_id": offer_id, "person_id": person.id})


@functools.cache
def _operated_offer() -> sa.Select:
    # Built once: every sale runs it.
    return (
        sa.select(Offer)
        .join(MerchantOperator, MerchantOperator.merchant_id == Offer.merchant_id)
        .where(
            Offer.id == sa.bindparam("offer_id"),
            MerchantOperator.person_id == sa.bindparam("person_id"),
        )
        .options(joinedload(Offer.merchant).joinedload(Merchant.account))
    )


def merchants_of(person: Person) -> list[Merchant]:
    return list(
        db.session.scalars(
            sa.select(Merchant)
            .join(MerchantOperator, MerchantOperator.merchant_id == Merchant.id)
            .where(MerchantOperator.person_id == person.id)
            .order_by(Merchant.id)
        )
    )


def unavailable_reason(offer: Offer, now: datetime) -> str | None:
    """Why nobody can take this offer now, or None."""
    from app.partners import partners

    closed = partners.closed_reason(offer.merchant)
    if closed:
        return closed
    if offer.review == "pending":
        return str(_l("This offer is waiting for staff approval."))
    if offer.review == "rejected":
        return str(_l("This offer was not approved."))
    if not offer.active:
        return str(_l("This offer is switched off."))
    if offer.valid_from and now < offer.valid_from:
        return str(
            _l("This offer starts on %(date)s.")
            % {"date": clock.local(offer.valid_from, None).strftime("%Y-%m-%d")}
        )
    if offer.valid_to and now >= offer.valid_to:
        return str(_l("This offer has ended."))
    if offer.stock is not None and offer.stock <= 0:
        return str(_l("Out of stock."))
    return None


def local_day(now: datetime) -> str:
    return clock.local(now, None).strftime("%Y-%m-%d")


def local_month(now: datetime) -> str:
    return clock.local(now, None).strftime("%Y-%m")


@dataclass
class Availability:
    offer: Offer
    reason: str | None  # why it cannot be taken now; None when it can
    affordable: bool
    left_this_month: int | None  # for this person; None: no monthly limit
    left_today: int | None  # of the daily quota; None: no quota
    # Points the volunteer still lacks: only in their own catalogue (a shop never learns
    # anything nearer the balance than `affordable`).
    missing: int | None = None

    @property
    def most(self) -> int:
        """The most units this person can take now (0: none)."""
        if self.reason:
            return 0
        limits = [self.offer.max_quantity]
        limits += [
            n for n in (self.left_this_month, self.left_today, self.offer.stock) if n is not None
        ]
        return max(0, min(limits))


def availability(offer: Offer, person: Person, balance: int, now: datetime) -> Availability:
    reason = unavailable_reason(offer, now)
    left_month = left_today = None
    if offer.monthly_limit is not None:
        used = db.session.get(OfferPersonMonth, (offer.id, person.id, local_month(now)))
        left_month = max(0, offer.monthly_limit - (used.used if used else 0))
    if offer.daily_quota is not None:
        today = db.session.get(OfferDayCount, (offer.id, local_day(now)))
        left_today = max(0, offer.daily_quota - (today.used if today else 0))
    if reason is None and left_month == 0:
        reason = str(_l("You have taken this offer as often as allowed this month."))
    if reason is None and left_today == 0:
        reason = str(_l("Today's quota for this offer is used up."))
    return Availability(offer, reason, balance >= offer.points_cost, left_month, left_today)


def serves_clause(merchant_id) -> sa.ColumnElement[bool]:
    """`serves` as SQL about a selected Person row, to ask together with loading them
    (`merchant_id`: an id or a bound parameter)."""
    return sa.exists().where(
        MerchantCommunity.merchant_id == merchant_id,
        MerchantCommunity.community_id == Person.community_id,
    )


def serves(merchant: Merchant, person: Person) -> bool:
    """Whether the merchant takes points from volunteers of the person's community."""
    if person.community_id is None:
        return False
    return db.session.get(MerchantCommunity, (merchant.id, person.community_id)) is not None


def catalogue(
    person: Person,
    now: datetime,
    *,
    tier: str | None = None,
    category: str | None = None,
    affordable_only: bool = False,
) -> list[Availability]:
    """Offers a volunteer can see: live offers of active merchants serving their community."""
    if person.community_id is None:
        return []
    query = (
        sa.select(Offer)
        .join(Merchant, Offer.merchant_id == Merchant.id)
        .join(MerchantCommunity, MerchantCommunity.merchant_id == Merchant.id)
        .where(
            MerchantCommunity.community_id == person.community_id,
            Merchant.status == "active",
            Offer.active.is_(True),
            Offer.review == "live",
            sa.or_(Offer.valid_to.is_(None), Offer.valid_to > now),
        )
        .order_by(Merchant.tier.desc(), Merchant.name, Offer.points_cost, Offer.id)
    )
    if tier in ("street", "community"):
        query = query.where(Merchant.tier == tier)
    if category:
        query = query.where(Merchant.category == category)
    wallet = ledger.find_wallet(person)
    balance = wallet.balance if wallet else 0
    items = [availability(offer, person, balance, now) for offer in db.session.scalars(query)]
    for item in items:
        item.missing = max(0, item.offer.points_cost - balance)
    if affordable_only:
        items = [item for item in items if item.affordable]
    return items


def categories() -> list[str]:
    return list(
        db.session.scalars(
            sa.select(Merchant.category)
            .where(Merchant.status == "active")
            .distinct()
            .order_by(Merchant.category)
        )
    )


def pending_reviews_query(community_ids: set[int] | None) -> sa.Select:
    """Offers waiting for staff, of merchants serving these communities (None: all)."""
    query = sa.select(Offer).where(Offer.review == "pending")
    if community_ids is not None:
        served = sa.select(MerchantCommunity.merchant_id).where(
            MerchantCommunity.community_id.in_(community_ids)
        )
        query = query.where(Offer.merchant_id.in_(served))
    return query


def pending_reviews(community_ids: set[int] | None, limit: int = 200) -> list[Offer]:
    query = pending_reviews_query(community_ids).order_by(Offer.updated_at).limit(limit)
    return list(db.session.scalars(query))
