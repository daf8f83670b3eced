import re
import uuid

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from app.core import clock, strikes
from app.core.database import rollback_unit_of_work
from app.core.errors import InvalidInput, LinliError
from app.core.extensions import limiter
from app.core.text import mask_name, yuan
from app.forms import OfferForm, fill_offer_form, offer_error_field, save_offer_form
from app.models import Merchant
from app.models.base import db_id
from app.partners import offers, partners, qr_read, redemptions, settlements
from app.web import csv_download, reads_only, role_required
from merchants import bp
from merchants.forms import ButtonForm, CodeForm, PhotoForm, VoidForm

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _shop(shop_id: int) -> Merchant:
    """The operator's own merchant; any other is "not found"."""
    for merchant in offers.merchants_of(current_user):
        if merchant.id == shop_id:
            return merchant
    abort(404)


@bp.route("/")
@role_required("merchant")
def index():
    shops = offers.merchants_of(current_user)
    if len(shops) == 1:
        return redirect(url_for(".shop_home", shop_id=shops[0].id))
    return render_template("merchants/choose.html", shops=shops)


@bp.route("/<int:shop_id>/")
@role_required("merchant")
def shop_home(shop_id: int):
    merchant = _shop(shop_id)
    today = offers.local_day(clock.now())
    rows = redemptions.for_merchant_day(merchant, today)
    standing = [row for row in rows if row.voided_at is None]
    return render_template(
        "merchants/home.html",
        merchant=merchant,
        closed=partners.closed_reason(merchant),
        today_count=len(standing),
        today_points=sum(row.points for row in standing),
        latest=rows[:5],
    )


# --- redeeming ----------------------------------------------------------------------------


def _start_sale(merchant: Merchant, text: str):
    ticket = redemptions.start(text, merchant, operator=current_user, now=clock.now())
    return redirect(url_for(".sale", shop_id=merchant.id, t=ticket.token))


@bp.route("/<int:shop_id>/redeem", methods=["GET", "POST"])
@role_required("merchant")
def redeem(shop_id: int):
    """Step 1: the volunteer's code, typed, scanned live (BarcodeDetector) or photographed."""
    merchant = _shop(shop_id)
    form, photo_form = CodeForm(), PhotoForm(prefix="p")
    if form.validate_on_submit():
        try:
            return _start_sale(merchant, form.code.data)
        except LinliError as exc:
            rollback_unit_of_work()  # the code stays good; wrong guesses stay counted
            form.code.errors.append(str(strikes.record_refusal(exc, clock.now())))
    return render_template(
        "merchants/redeem.html", merchant=merchant, form=form, photo_form=photo_form
    )


@bp.route("/<int:shop_id>/redeem/photo", methods=["POST"])
@role_required("merchant")
def redeem_photo(shop_id: int):
    merchant = _shop(shop_id)
    form, photo_form = CodeForm(formdata=None), PhotoForm(prefix="p")
    if photo_form.validate_on_submit():
        upload = photo_form.photo.data
        try:
            texts = qr_read.read(upload.read() if upload else b"")
            return _start_sale(merchant, texts[0])
        except LinliError as exc:
            rollback_unit_of_work()
            photo_form.photo.errors.append(str(strikes.record_refusal(exc, clock.now())))
    return render_template(
        "merchants/redeem.html", merchant=merchant, form=form, photo_form=photo_form
    )


# A camera frame: a few hundred pixels of JPEG is plenty for a QR code on a phone's screen.
MAX_FRAME_BYTES = 300 * 1024
# The page sends about two frames a second for a minute at most; a little headroom.
FRAME_RATE_LIMIT = "4 per second;150 per minute"


@bp.route("/<int:shop_id>/redeem/frame", methods=["POST"])
@reads_only
@role_required("merchant")
@limiter.limit(FRAME_RATE_LIMIT, key_func=lambda: f"frame:{current_user.get_id()}")
def redeem_frame(shop_id: int):
    """The live camera where the browser cannot read QR codes itself (Safari has no
    BarcodeDetector): the page sends small frames, the server reads them as it reads a
    photo, and a code found goes back to the page, which submits it as the code form does,
    so a sale starts, and guesses are counted, in one place."""
    _shop(shop_id)
    if (request.content_length or 0) > MAX_FRAME_BYTES:
        abort(413)
    try:
        texts = qr_read.read(request.get_data(cache=False)[:MAX_FRAME_BYTES])
    except InvalidInput:  # no code in this frame (or no picture): the next one, then
        return jsonify(found=False)
    return jsonify(found=True, text=texts[0])


@bp.route("/<int:shop_id>/sale", methods=["GET", "POST"])
@role_required("merchant")
def sale(shop_id: int):
    """Step 2 and 3: who (masked) and what they can take; pick, confirm."""
    merchant = _shop(shop_id)
    token = request.values.get("t", "")
    now = clock.now()
    ticket = redemptions.read_ticket(token, merchant, now=now)
    error = None
    if request.method == "POST":
        if not ButtonForm().validate_on_submit():
            abort(400)
        offer_id = request.form.get("offer", type=db_id)
        quantity = request.form.get("quantity", type=int)
        try:
            offer = offers.get_offer(offer_id or 0)
            done = redemptions.redeem(
                ticket=ticket,
                merchant=merchant,
                offer=offer,
                quantity=quantity if quantity is not None else 0,
                operator=current_user,
                idempotency_key=request.form.get("key", ""),
                now=now,
            )
        except LinliError as exc:
            rollback_unit_of_work()
            error = str(exc)
        else:
            return redirect(url_for(".receipt", shop_id=merchant.id, redemption_id=done.id))
    return render_template(
        "merchants/sale.html",
        merchant=merchant,
        token=token,
        seen=redemptions.choices(ticket, merchant, now=now),
        form=ButtonForm(),
        key=uuid.uuid4().hex,
        error=error,
    )


@bp.route("/<int:shop_id>/receipts/<int:redemption_id>")
@role_required("merchant")
def receipt(shop_id: int, redemption_id: int):
    merchant = _shop(shop_id)
    redemption = redemptions.get_for_merchant(merchant, redemption_id)
    return render_template(
        "merchants/receipt.html",
        merchant=merchant,
        redemption=redemption,
        can_void=redemptions.can_void_as_operator(redemption, clock.now()),
        form=VoidForm(),
        masked=mask_name(redemption.person.name),
    )


@bp.route("/<int:shop_id>/receipts/<int:redemption_id>/void", methods=["POST"])
@role_required("merchant")
def void(shop_id: int, redemption_id: int):
    merchant = _shop(shop_id)
    redemption = redemptions.get_for_merchant(merchant, redemption_id)
    form = VoidForm()
    try:
        redemptions.void(
            redemption,
            actor=current_user,
            reason=form.reason.data or "",
            now=clock.now(),
            as_staff=False,
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(_("Voided: the points went back to the volunteer."), "info")
    return redirect(url_for(".receipt", shop_id=merchant.id, redemption_id=redemption_id))


# --- history and statements ---------------------------------------------------------------


@bp.route("/<int:shop_id>/history")
@role_required("merchant")
def history(shop_id: int):
    merchant = _shop(shop_id)
    day = request.args.get("day") or offers.local_day(clock.now())
    if not _DAY.match(day):
        abort(404)
    rows = redemptions.for_merchant_day(merchant, day)
    return render_template(
        "merchants/history.html",
        merchant=merchant,
        day=day,
        rows=rows,
        totals=redemptions.totals_by_offer(rows),
        days=redemptions.days_with_redemptions(merchant),
        masked=mask_name,
    )


def _month_arg() -> str:
    month = request.args.get("month") or offers.local_month(clock.now())
    if not _MONTH.match(month):
        abort(404)
    return month


@bp.route("/<int:shop_id>/statement")
@role_required("merchant")
def statement(shop_id: int):
    merchant = _shop(shop_id)
    month = _month_arg()
    rows = redemptions.for_merchant_month(merchant, month)
    standing = [row for row in rows if row.voided_at is None]
    settled = settlements.for_merchant(merchant)
    return render_template(
        "merchants/statement.html",
        merchant=merchant,
        month=month,
        settled=settled,
        settlement=next((s for s in settled if s.month == month), None),
        rows=rows,
        totals=redemptions.totals_by_offer(rows),
        points=sum(row.points for row in standing),
        money=sum(row.money_value_fen or 0 for row in standing),
        yuan=yuan,
        masked=mask_name,
    )


@bp.route("/<int:shop_id>/statement.csv")
@role_required("merchant")
def statement_csv(shop_id: int):
    merchant = _shop(shop_id)
    month = _month_arg()
    header = [
        _("Receipt"),
        _("Time"),
        _("Volunteer"),
        _("Offer"),
        _("Quantity"),
        _("Points"),
        _("Money value (yuan)"),
        _("Voided"),
        _("Void reason"),
    ]
    rows = (
        [
            row.receipt_no,
            clock.local(row.created_at, None).strftime("%Y-%m-%d %H:%M"),
            mask_name(row.person.name),
            row.offer.title,
            row.quantity,
            row.points,
            yuan(row.money_value_fen),
            _("yes") if row.voided_at else "",
            row.void_reason,
        ]
        for row in redemptions.for_merchant_month(merchant, month)
    )
    return csv_download(f"statement-{merchant.id}-{month}.csv", header, rows)


# --- offers -------------------------------------------------------------------------------


@bp.route("/<int:shop_id>/offers")
@role_required("merchant")
def offer_list(shop_id: int):
    merchant = _shop(shop_id)
    return render_template("merchants/offers.html", merchant=merchant, now=clock.now())


def _offer_form_page(merchant: Merchant, offer=None):
    form = OfferForm(obj=None if request.method == "POST" else offer)
    if offer is not None and request.method == "GET":
        fill_offer_form(form, offer)
    if form.validate_on_submit():
        try:
            saved = save_offer_form(
                merchant,
                form,
                offer,
                actor=current_user,
                by_staff=False,
                source="merchant",
                now=clock.now(),
            )
        except LinliError as exc:
            rollback_unit_of_work()
            offer_error_field(form, exc.field).errors.append(str(exc))
        else:
            if saved.review == "pending":
                flash(_("Saved. Staff will check the offer before volunteers see it."), "info")
            else:
                flash(_("Saved."), "info")
            return redirect(url_for(".offer_list", shop_id=merchant.id))
    return render_template("merchants/offer_form.html", merchant=merchant, form=form, offer=offer)


@bp.route("/<int:shop_id>/offers/new", methods=["GET", "POST"])
@role_required("merchant")
def offer_new(shop_id: int):
    return _offer_form_page(_shop(shop_id))


@bp.route("/<int:shop_id>/offers/<int:offer_id>/edit", methods=["GET", "POST"])
@role_required("merchant")
def offer_edit(shop_id: int, offer_id: int):
    merchant = _shop(shop_id)
    offer = offers.get_offer(offer_id)
    if offer.merchant_id != merchant.id:
        abort(404)
    return _offer_form_page(merchant, offer)


@bp.context_processor
def shop_globals():
    # Why a paused or ended shop takes no points, for its pages (None when it does).
    return {"merchant_closed": partners.closed_reason}
