"""Shops: offers (a shop's own, or staff for the shops serving their communities) and
redemptions by a shop's till (code → points spent), with voids."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.api import bp
from app.api.base import (
    caller,
    describe,
    dump,
    field_error,
    is_staff,
    keyset,
    load_body,
    load_query,
    operated_merchant,
    staff_scope,
)
from app.api.idempotency import idempotent, service_key
from app.api.schemas import (
    OfferIn,
    OfferOut,
    OfferPage,
    OfferQuery,
    RedemptionIn,
    RedemptionOut,
    RedemptionPage,
    RedemptionQuery,
    VoidIn,
)
from app.core import clock
from app.core.errors import NotFound
from app.core.extensions import db
from app.core.text import mask_name
from app.models import Merchant, Offer, Redemption
from app.partners import offers, redemptions


def _offer(offer: Offer) -> dict:
    """The fields of OfferOut (dumped by the view, alone or in a page)."""
    return {
        "id": offer.id,
        "merchant_id": offer.merchant_id,
        "title": offer.title,
        "kind": offer.kind,
        "description": offer.description,
        "points_cost": offer.points_cost,
        "money_value_fen": offer.money_value_fen,
        "stock": offer.stock,
        "daily_quota": offer.daily_quota,
        "monthly_limit": offer.monthly_limit,
        "max_quantity": offer.max_quantity,
        "valid_from": offer.valid_from,
        "valid_to": offer.valid_to,
        "active": offer.active,
        "review": offer.review,
    }


def _redemption(redemption: Redemption) -> dict:
    """The fields of RedemptionOut (dumped by the view, alone or in a page)."""
    return {
        "id": redemption.id,
        "receipt_no": redemption.receipt_no,
        "merchant_id": redemption.merchant_id,
        "offer_id": redemption.offer_id,
        "volunteer": mask_name(redemption.person.name),
        "quantity": redemption.quantity,
        "points": redemption.points,
        "created_at": redemption.created_at,
        "voided_at": redemption.voided_at,
        "void_reason": redemption.void_reason or None,
    }


def _shops_of_caller() -> tuple[list[Merchant], bool]:
    """The shops this token may act for, and whether it acts as staff."""
    person = caller()
    if is_staff(person):
        return offers.merchants_for_staff(staff_scope()), True
    if person.has_role("merchant"):
        return offers.merchants_of(person), False
    abort(403)


def _shop(merchant_id: int | None) -> tuple[Merchant, bool]:
    """The shop a new offer is for: the operator's (their only one, or the one named), or
    for staff the one named among the shops serving their communities."""
    if not is_staff(caller()):
        return operated_merchant(merchant_id), False
    if merchant_id is None:
        raise field_error("merchant_id", _("Say which shop: merchant_id."))
    return offers.merchant_for_staff(merchant_id, staff_scope()), True


def _listed_shop_ids(merchant_id: int | None) -> set[int]:
    """The shops a list covers: all the caller may see, or the one named among them."""
    shops, _as_staff = _shops_of_caller()
    ids = {shop.id for shop in shops}
    if merchant_id is None:
        return ids
    if merchant_id not in ids:
        raise NotFound(field="merchant_id")
    return {merchant_id}


@bp.get("/offers")
@describe(
    _l("Offers of the shops you run (or, for staff, of the shops serving your communities)"),
    who=_l("merchant, staff"),
    query=OfferQuery,
    answer=OfferPage,
)
def offer_list():
    query = load_query(OfferQuery)
    ids = _listed_shop_ids(query.get("merchant_id"))
    rows, next_cursor = keyset(
        sa.select(Offer).where(Offer.merchant_id.in_(ids)), Offer.id, query, newest_first=False
    )
    return dump(OfferPage, {"items": [_offer(row[0]) for row in rows], "next_cursor": next_cursor})


@bp.post("/offers")
@describe(
    _l("Create an offer (it waits for staff review when the shop's offers need approval)"),
    who=_l("merchant, staff"),
    body=OfferIn,
    answer=OfferOut,
    status=201,
    idempotent=True,
)
@idempotent
def offer_create():
    data = load_body(OfferIn)
    shop, as_staff = _shop(data.pop("merchant_id", None))
    offer = offers.create_offer(
        shop,
        offers.OfferFields(**data),
        actor=caller(),
        by_staff=as_staff,
        now=clock.now(),
        source="api",
    )
    return dump(OfferOut, _offer(offer)), 201


@bp.get("/redemptions")
@describe(
    _l("Redemptions at the shops you run (staff: shops serving your communities), newest first"),
    who=_l("merchant, staff"),
    query=RedemptionQuery,
    answer=RedemptionPage,
)
def redemption_list():
    query = load_query(RedemptionQuery)
    ids = _listed_shop_ids(query.get("merchant_id"))
    select = sa.select(Redemption).where(Redemption.merchant_id.in_(ids))
    if query.get("day"):
        select = select.where(Redemption.day == query["day"])
    rows, next_cursor = keyset(select, Redemption.id, query)
    return dump(
        RedemptionPage, {"items": [_redemption(row[0]) for row in rows], "next_cursor": next_cursor}
    )


@bp.post("/redemptions")
@describe(
    _l("Redeem a volunteer's code for an offer of your shop: the points are spent at once"),
    who=_l("merchant"),
    body=RedemptionIn,
    answer=RedemptionOut,
    status=201,
    idempotent=True,
)
@idempotent
def redemption_create():
    data = load_body(RedemptionIn)
    if not caller().has_role("merchant"):
        abort(403)
    # The offer names its shop: one of the caller's, and the one named if they name one.
    offer = offers.operated_offer(caller(), data["offer_id"])
    if offer is None or data.get("merchant_id") not in (None, offer.merchant_id):
        raise NotFound(field="offer_id")
    shop = offer.merchant
    now = clock.now()
    ticket = redemptions.start(data["code"], shop, operator=caller(), now=now)
    redemption = redemptions.redeem(
        ticket=ticket,
        merchant=shop,
        offer=offer,
        quantity=data["quantity"],
        operator=caller(),
        idempotency_key=service_key(),
        now=now,
        source="api",
        new_key=True,
    )
    return dump(RedemptionOut, _redemption(redemption)), 201


@bp.post("/redemptions/<int:redemption_id>/void")
@describe(
    _l("Void a redemption: the points go back (a shop within 30 minutes, staff any time)"),
    who=_l("merchant, staff"),
    body=VoidIn,
    answer=RedemptionOut,
    idempotent=True,
)
@idempotent
def redemption_void(redemption_id: int):
    data = load_body(VoidIn)
    shops, as_staff = _shops_of_caller()
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None or redemption.merchant_id not in {shop.id for shop in shops}:
        raise NotFound(field="redemption")
    redemptions.void(
        redemption, actor=caller(), reason=data["reason"], now=clock.now(), as_staff=as_staff
    )
    return dump(RedemptionOut, _redemption(redemption))
