"""Redeeming points at a red partner: scan the volunteer's code, pick an offer, confirm.

1. `start` uses up the volunteer's personal code (single use, 60 s) and returns a signed
   ticket for this merchant, valid a few minutes, naming the code it used.
2. `choices` tells the operator, for each offer, whether the balance covers it (never the
   balance itself) and what the limits allow.
3. `redeem` moves the points wallet → merchant account in one ledger transaction, counts
   stock / daily quota / monthly limit by conditional updates, and writes the redemption
   with a receipt number. The code id is UNIQUE on redemptions: one code, one redemption.
   The same idempotency key (a double tap, a network retry) returns the first receipt.

`void` reverses a redemption (never deletes it) and gives the counted units back.
"""

from __future__ import annotations

import functools
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import joinedload

from app.channels import outbox
from app.core import audit, clock, metrics, strikes
from app.core.database import add_to_counter, insert_unless_taken, rows_changed
from app.core.errors import (
    BusinessRuleError,
    CodeExpired,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidCode,
    InvalidInput,
    LinliError,
    NotFound,
    NotPermitted,
)
from app.core.extensions import db
from app.core.text import mask_name
from app.models import (
    Merchant,
    Offer,
    OfferDayCount,
    OfferPersonMonth,
    Person,
    Redemption,
)
from app.models.base import table_of
from app.partners import offers, partners, personal_codes
from app.points import ledger

log = logging.getLogger(__name__)

TICKET_SECONDS = 300
MAX_REASON = 200


@dataclass(frozen=True)
class Ticket:
    token: str
    person: Person
    code_id: int
    route: outbox.Route | None = None  # how the receipt's message reaches them, when known


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="linli.redeem-ticket")


# Typed digits are guessable (a scanned QR token is not): wrong ones are strikes against
# the operator (5 in 10 minutes pause them 15 minutes; 10 a day, the rest of the day) and
# the shop (20 a day, whoever types them, the API included). Paused, typed codes are not
# tried at all, so a guesser cannot use a code they happen to hit; scanning still works.
OPERATOR_WRONG_CODES = strikes.Limit(
    "redeem:operator", 5, timedelta(minutes=10), pause=timedelta(minutes=15)
)
OPERATOR_WRONG_CODES_DAY = strikes.Limit("redeem-day:operator", 10, timedelta(hours=24))
SHOP_WRONG_CODES_DAY = strikes.Limit("redeem-day:shop", 20, timedelta(hours=24))
_CANNOT_USE = _l("This code cannot be used at this shop. Ask the volunteer to refresh it.")


@metrics.counts_refusals(metrics.REDEMPTION_REFUSALS)
def start(code_text: str, merchant: Merchant, *, operator: Person | None, now: datetime) -> Ticket:
    """Use up a volunteer's code at `merchant`; the ticket carries the sale to `redeem`.

    `operator` is who typed or scanned it (None only for scripts: the shop's limit holds).
    A shop learns nothing about a code it may not use: not whose it is, nor where they live.
    """
    closed = partners.closed_reason(merchant)
    if closed:  # before the code is looked at: it stays good for another shop
        raise BusinessRuleError(closed, field="merchant")
    text = "".join((code_text or "").split())
    typed = text.isdigit()
    guards: list[strikes.Pair] = [(SHOP_WRONG_CODES_DAY, merchant.id)]
    if operator is not None:
        guards += [(OPERATOR_WRONG_CODES, operator.id), (OPERATOR_WRONG_CODES_DAY, operator.id)]
    if typed and len(text) != personal_codes.DIGITS:
        strikes.ensure_open(guards, now)
        raise InvalidCode(_l("The redemption code has 8 digits."), field="code")
    try:
        # A typed code is not tried while the till or the shop is paused: the update that
        # spends it asks that too, in the same round trip.
        used = personal_codes.use(
            text, now=now, unless_paused=strikes.pause_keys(guards) if typed else ()
        )
    except LinliError as exc:
        if typed:
            strikes.ensure_open(guards, now)  # paused: say so, and count no strike
            exc.strikes = tuple(guards)
        raise
    # Whose it was, whether this shop serves them, and what a sale then needs of them (their
    # community's clock for the message, their wallet, the message's channel), in one
    # statement.
    person, served, chat, texts_stopped = db.session.execute(
        _customer(), {"person_id": used.person_id, "merchant_id": merchant.id}
    ).one()
    if not served:
        raise BusinessRuleError(_CANNOT_USE, field="code", strikes=guards if typed else ())
    token = _serializer().dumps(
        {"p": person.id, "m": merchant.id, "c": used.code_id, "t": now.timestamp()}
    )
    return Ticket(token, person, used.code_id, outbox.Route(chat, texts_stopped))


@functools.cache
def _customer() -> sa.Select:
    # Built once: every sale runs it.
    return (
        sa.select(
            Person, offers.serves_clause(sa.bindparam("merchant_id")), *outbox.route_columns()
        )
        .where(Person.id == sa.bindparam("person_id"))
        .options(joinedload(Person.community), joinedload(Person.wallet))
    )


def read_ticket(token: str, merchant: Merchant, *, now: datetime) -> Ticket:
    try:
        data = _serializer().loads(token or "")
    except (BadSignature, SignatureExpired, ValueError):
        raise InvalidCode(
            _l("This sale is not valid. Scan the volunteer's code again."), field="code"
        ) from None
    if data.get("m") != merchant.id:
        raise InvalidCode(
            _l("This sale is not valid. Scan the volunteer's code again."), field="code"
        )
    if not 0 <= now.timestamp() - data["t"] <= TICKET_SECONDS:
        raise CodeExpired(
            _l("Too much time has passed. Ask the volunteer for a fresh code and scan again."),
            field="code",
        )
    person = db.session.get(Person, data["p"])
    if person is None:
        raise NotFound(field="code")
    return Ticket(token, person, data["c"])


@dataclass
class Choices:
    masked_name: str
    items: list[offers.Availability]


def choices(ticket: Ticket, merchant: Merchant, *, now: datetime) -> Choices:
    """What the operator sees after the scan: a masked name and what the volunteer can take."""
    wallet = ledger.find_wallet(ticket.person)
    balance = wallet.balance if wallet else 0
    items = [
        offers.availability(offer, ticket.person, balance, now)
        for offer in merchant.offers
        if offer.review == "live" and offer.active
    ]
    return Choices(mask_name(ticket.person.name), items)


# --- counting limits ----------------------------------------------------------------------


def _take(offer: Offer, person: Person, quantity: int, now: datetime) -> None:
    """Count `quantity` units against stock, today's quota and the person's month."""
    if offer.stock is not None:
        table = table_of(Offer)
        taken = db.session.execute(
            sa.update(table)
            .where(table.c.id == offer.id, table.c.stock >= quantity)
            .values(stock=table.c.stock - quantity)
            .returning(table.c.stock)
        ).first()
        if taken is None:
            raise BusinessRuleError(_l("Not enough left in stock."), field="quantity")
        db.session.expire(offer, ["stock"])
    if offer.daily_quota is not None and not add_to_counter(
        table_of(OfferDayCount),
        {"offer_id": offer.id, "day": offers.local_day(now)},
        "used",
        quantity,
        offer.daily_quota,
    ):
        raise BusinessRuleError(_l("Today's quota for this offer is used up."), field="quantity")
    if offer.monthly_limit is not None and not add_to_counter(
        table_of(OfferPersonMonth),
        {"offer_id": offer.id, "person_id": person.id, "month": offers.local_month(now)},
        "used",
        quantity,
        offer.monthly_limit,
    ):
        raise BusinessRuleError(
            _l("This would pass the limit of %(limit)s per person per month."),
            field="quantity",
            limit=offer.monthly_limit,
        )


def _give_back(redemption: Redemption) -> None:
    offer = redemption.offer
    quantity = redemption.quantity
    if offer.stock is not None:
        db.session.execute(
            sa.update(Offer)
            .where(Offer.id == offer.id)
            .values(stock=Offer.stock + quantity)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(offer, ["stock"])
    # Counters exist only while a quota or limit is set (a busy offer without limits has
    # no shared row to queue on); `used >= quantity` keeps a counter started later sane.
    db.session.execute(
        sa.update(OfferDayCount)
        .where(
            OfferDayCount.offer_id == offer.id,
            OfferDayCount.day == redemption.day,
            OfferDayCount.used >= quantity,
        )
        .values(used=OfferDayCount.used - quantity)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(OfferPersonMonth)
        .where(
            OfferPersonMonth.offer_id == offer.id,
            OfferPersonMonth.person_id == redemption.person_id,
            OfferPersonMonth.month == redemption.day[:7],
            OfferPersonMonth.used >= quantity,
        )
        .values(used=OfferPersonMonth.used - quantity)
        .execution_options(synchronize_session=False)
    )


# --- redeeming ----------------------------------------------------------------------------


def _by_key(key: str) -> Redemption | None:
    return db.session.scalar(sa.select(Redemption).filter_by(idempotency_key=key))


def _replay(found: Redemption, ticket: Ticket, offer: Offer, quantity: int) -> Redemption:
    if (found.code_id, found.offer_id, found.quantity) != (ticket.code_id, offer.id, quantity):
        raise IdempotencyConflict(field="idempotency_key")
    found.replayed = True
    return found


@metrics.counts_refusals(metrics.REDEMPTION_REFUSALS)
def redeem(
    *,
    ticket: Ticket,
    merchant: Merchant,
    offer: Offer,
    quantity: int,
    operator: Person | None,
    idempotency_key: str,
    now: datetime,
    source: str = "merchant",
    new_key: bool = False,
) -> Redemption:
    """Spend the volunteer's points on `quantity` units of `offer`; return the redemption.

    Raises InvalidInput (quantity), BusinessRuleError (offer not available, a limit),
    InsufficientPoints, CodeExpired (the code was already used for another redemption).
    Runs in the caller's unit of work without savepoints: on a refusal the caller rolls the
    whole of it back (every edge does), so nothing of a refused sale is left.

    A key seen before returns the first receipt. `new_key`: the caller made the key from a
    record it has just created (the API's Idempotency-Key record), so it cannot have been
    seen and is not looked up (the ledger's unique key would still catch it).
    """
    if not idempotency_key or len(idempotency_key) > 100:
        raise InvalidInput(_l("An idempotency key is required."), field="idempotency_key")
    found = None if new_key else _by_key(idempotency_key)
    if found is not None:
        return _replay(found, ticket, offer, quantity)
    if offer.merchant_id != merchant.id:
        raise NotFound(_l("There is no such offer."), field="offer")
    if type(quantity) is not int or not 1 <= quantity <= offer.max_quantity:
        raise InvalidInput(
            _l("The quantity must be from 1 to %(max)s."), field="quantity", max=offer.max_quantity
        )
    reason = offers.unavailable_reason(offer, now)
    if reason:
        raise BusinessRuleError(reason, field="offer")
    person = ticket.person
    wallet = ledger.wallet_for(person)
    points = offer.points_cost * quantity
    receipt_no = _receipt_no(now)
    try:
        # The ledger's key is the sale's: a second confirm with this key (a double tap, a
        # retry) gets the first transaction back, and with it the first receipt.
        txn = ledger.post(
            kind="redemption",
            legs=[
                ledger.Leg(wallet, -points),
                ledger.Leg(ledger.merchant_account(merchant), points),
            ],
            idempotency_key=f"redemption:{idempotency_key}",
            now=now,
            memo=f"{merchant.name}：{offer.title} ×{quantity}（{receipt_no}）",
            actor=operator,
            savepoint=False,
        )
    except InsufficientPoints:
        # A shop learns whether the points suffice, never the balance (PRODUCT.md).
        raise InsufficientPoints(
            _l("The volunteer does not have enough points for this."), field="quantity"
        ) from None
    if txn.replayed:
        found = _by_key(idempotency_key)
        if found is None:  # the key was used for another kind of posting
            raise IdempotencyConflict(field="idempotency_key")
        return _replay(found, ticket, offer, quantity)
    _take(offer, person, quantity, now)
    fields = dict(
        receipt_no=receipt_no,
        merchant_id=merchant.id,
        offer_id=offer.id,
        person_id=person.id,
        community_id=person.community_id,
        operator_id=operator.id if operator else None,
        code_id=ticket.code_id,
        idempotency_key=idempotency_key,
        quantity=quantity,
        points=points,
        money_value_fen=(
            offer.money_value_fen * quantity if offer.money_value_fen is not None else None
        ),
        day=offers.local_day(now),
        transaction_id=txn.id,
        created_at=now,
    )
    redemption = insert_unless_taken(Redemption, fields)
    if redemption is None:  # a unique key is taken: the code's, or (rarely) the receipt's
        if db.session.scalar(sa.select(Redemption.id).filter_by(code_id=ticket.code_id)):
            raise CodeExpired(
                _l("This code was already used. Ask the volunteer to refresh their code."),
                field="code",
            )
        # The ledger's memo already names this receipt and ledger rows are append-only, so
        # the sale is refused whole (about one in 10^8 a day at ten thousand sales a day).
        raise BusinessRuleError(
            _l("Nothing was taken: please confirm the sale once more."), field="receipt"
        )
    redemption.replayed = False
    audit.record(
        "redemption.create",
        redemption,
        actor=operator,
        source=source,
        now=now,
        after={
            "offer_id": offer.id,
            "quantity": quantity,
            "points": points,
            "person_id": person.id,
        },
    )
    with force_locale(person.locale):
        body = _(
            "You used %(points)s points at %(shop)s for %(offer)s ×%(quantity)s. "
            "Receipt %(receipt)s. Balance: %(balance)s points.",
            points=points,
            shop=merchant.name,
            offer=offer.title,
            quantity=quantity,
            receipt=receipt_no,
            balance=wallet.balance,  # as the posting left it
        )
    outbox.queue(person=person, kind="redemption", body=body, now=now, route=ticket.route)
    metrics.count_after_commit(metrics.REDEMPTIONS)
    return redemption


def _receipt_no(now: datetime) -> str:
    """R<local yymmdd>-<10 random hex digits>: unique in practice (a day's receipts share
    the prefix, so only they can clash), short enough to read out."""
    return f"R{clock.local(now, None):%y%m%d}-{secrets.token_hex(5).upper()}"


def void_window() -> timedelta:
    return timedelta(minutes=current_app.config["VOID_WINDOW_MINUTES"])


def can_void_as_operator(redemption: Redemption, now: datetime) -> bool:
    return redemption.voided_at is None and now - redemption.created_at <= void_window()


def _settled(redemption: Redemption) -> BusinessRuleError:
    # A settled month is paid and frozen (its figures and hash never change): a complaint
    # after that is put right by an adjustment to the volunteer, which the ledger shows.
    return BusinessRuleError(
        _l(
            "Receipt %(receipt)s was settled with the shop in %(month)s and can no longer be "
            "voided; give the points back by an adjustment instead."
        ),
        field="redemption",
        receipt=redemption.receipt_no,
        month=redemption.day[:7],
    )


def void(
    redemption: Redemption, *, actor: Person, reason: str, now: datetime, as_staff: bool
) -> Redemption:
    """Undo a redemption with a reversing transaction; the units count again.

    An operator may void within the window (30 minutes by default); staff at any time.
    Voiding twice changes nothing.
    """
    from app.core.text import one_line

    reason = one_line(
        reason,
        field="reason",
        max_length=MAX_REASON,
        required=_l("A reason is required."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    if redemption.voided_at is not None:
        return redemption
    if redemption.settlement_id is not None:
        raise _settled(redemption)
    if not as_staff and not can_void_as_operator(redemption, now):
        raise NotPermitted(
            _l("Only staff can void a redemption after %(minutes)s minutes."),
            field="redemption",
            minutes=int(void_window().total_seconds() // 60),
        )
    # Claimed in one statement: a month being settled at this moment has locked its rows, and
    # a redemption it took in is no longer open to a void (nor one voided meanwhile).
    claimed = rows_changed(
        sa.update(Redemption)
        .where(
            Redemption.id == redemption.id,
            Redemption.voided_at.is_(None),
            Redemption.settlement_id.is_(None),
        )
        .values(voided_at=now)
    )
    db.session.refresh(redemption)
    if not claimed:
        if redemption.settlement_id is not None:
            raise _settled(redemption)
        return redemption
    reversal = ledger.reverse(
        ledger.get_transaction(redemption.transaction_id),
        idempotency_key=f"redemption:{redemption.idempotency_key}:void",
        now=now,
        memo=_("Void of %(receipt)s: %(reason)s", receipt=redemption.receipt_no, reason=reason),
        actor=actor,
    )
    _give_back(redemption)
    redemption.voided_by_id = actor.id
    redemption.void_reason = reason
    redemption.void_transaction_id = reversal.id
    db.session.flush()
    audit.record(
        "redemption.void",
        redemption,
        actor=actor,
        source="panel" if as_staff else "merchant",
        now=now,
        before={"voided": False},
        after={"voided": True, "points": redemption.points},
        reason=reason,
    )
    person = redemption.person
    with force_locale(person.locale):
        body = _(
            "Receipt %(receipt)s at %(shop)s was voided; %(points)s points are back.",
            receipt=redemption.receipt_no,
            shop=redemption.merchant.name,
            points=redemption.points,
        )
    outbox.queue(person=person, kind="redemption_void", body=body, now=now)
    return redemption


# --- reading ------------------------------------------------------------------------------


def get_for_merchant(merchant: Merchant, redemption_id: int) -> Redemption:
    """A redemption of this merchant; another merchant's is "not found", not "forbidden"."""
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None or redemption.merchant_id != merchant.id:
        raise NotFound(_l("There is no such redemption."), field="redemption")
    return redemption


def for_merchant_day(merchant: Merchant, day: str) -> list[Redemption]:
    return list(
        db.session.scalars(
            sa.select(Redemption)
            .where(Redemption.merchant_id == merchant.id, Redemption.day == day)
            .order_by(Redemption.created_at.desc(), Redemption.id.desc())
        )
    )


@dataclass
class OfferTotal:
    title: str
    count: int
    quantity: int
    points: int
    money_value_fen: int


def totals_by_offer(rows: list[Redemption]) -> list[OfferTotal]:
    """Totals of the redemptions that stand (voided ones do not count)."""
    totals: dict[int, OfferTotal] = {}
    for row in rows:
        if row.voided_at is not None:
            continue
        total = totals.setdefault(row.offer_id, OfferTotal(row.offer.title, 0, 0, 0, 0))
        total.count += 1
        total.quantity += row.quantity
        total.points += row.points
        total.money_value_fen += row.money_value_fen or 0
    return sorted(totals.values(), key=lambda t: -t.points)


def for_merchant_month(merchant: Merchant, month: str) -> list[Redemption]:
    """Every redemption of the month (YYYY-MM, local days), oldest first, for statements."""
    return list(
        db.session.scalars(
            sa.select(Redemption)
            .where(Redemption.merchant_id == merchant.id, Redemption.day.like(f"{month}-%"))
            .order_by(Redemption.created_at, Redemption.id)
        )
    )


def days_with_redemptions(merchant: Merchant, limit: int = 31) -> list[tuple[str, int, int]]:
    """(day, count, points) of the latest days with redemptions that stand."""
    rows = db.session.execute(
        sa.select(Redemption.day, sa.func.count(), sa.func.sum(Redemption.points))
        .where(Redemption.merchant_id == merchant.id, Redemption.voided_at.is_(None))
        .group_by(Redemption.day)
        .order_by(Redemption.day.desc())
        .limit(limit)
    ).all()
    return [(day, count, points or 0) for day, count, points in rows]


def latest_for_merchant(merchant: Merchant, limit: int = 100) -> list[Redemption]:
    return list(
        db.session.scalars(
            sa.select(Redemption)
            .where(Redemption.merchant_id == merchant.id)
            .order_by(Redemption.created_at.desc(), Redemption.id.desc())
            .limit(limit)
        )
    )


def for_person(person: Person, limit: int = 100) -> list[Redemption]:
    return list(
        db.session.scalars(
            sa.select(Redemption)
            .where(Redemption.person_id == person.id)
            .order_by(Redemption.created_at.desc())
            .limit(limit)
        )
    )
