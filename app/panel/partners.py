"""Panel pages for red partners (红色合伙人): the list, a partner's page, create and edit,
pause / resume / end, operators, offers (approval and staff edits) and voids."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.core.text import mask_name, yuan
from app.forms import (
    OfferForm,
    field_for_error,
    fill_offer_form,
    offer_error_field,
    save_offer_form,
    uploaded_photo,
)
from app.panel import bp
from app.panel.changes import after_change
from app.panel.forms import ButtonForm, PartnerForm, PersonForm, ReasonForm
from app.partners import offers, partners, redemptions, settlements
from app.people import org, people
from app.web import role_required, set_password_url


def _scope():
    return people.visible_community_ids(current_user)


# --- the list, create, edit ---------------------------------------------------------------


@bp.route("/merchants")
@role_required("staff", "admin")
def merchant_list():
    visible = _scope()
    status = request.args.get("status") or None
    text = request.args.get("q", "")[:100]
    return render_template(
        "panel/merchants.html",
        page=partners.search(
            text, status=status, community_ids=visible, page=request.args.get("page", type=int)
        ),
        q=text,
        status=status,
        status_names=partners.status_names(),
        pending=offers.pending_reviews(visible),
        form=ButtonForm(),
    )


def _fill_partner_choices(form: PartnerForm) -> None:
    scope = _scope()
    form.communities.choices = [
        SelectChoice(c.id, c.name) for c in org.communities() if scope is None or c.id in scope
    ]
    form.category.choices = [SelectChoice(c, c) for c in partners.categories()]


def _partner_fields(form: PartnerForm) -> partners.PartnerFields:
    return partners.PartnerFields(
        name=form.name.data or "",
        tier=form.tier.data or "",
        category=(form.new_category.data or "").strip() or (form.category.data or ""),
        address=form.address.data or "",
        opening_hours=form.opening_hours.data or "",
        contact_name=form.contact_name.data or "",
        contact_phone=form.contact_phone.data or "",
        description=form.description.data or "",
        offers_need_approval=bool(form.offers_need_approval.data),
        community_ids=list(form.communities.data or []),
    )


def _partner_page(merchant=None):
    form = PartnerForm(obj=merchant if request.method == "GET" else None)
    _fill_partner_choices(form)
    if merchant is not None and request.method == "GET":
        form.communities.data = [c.id for c in merchant.communities]
        form.category.data = merchant.category
    if form.validate_on_submit():
        try:
            # The photo is checked before anything is written (a bad one changes nothing).
            jpeg = uploaded_photo(form.photo)
            fields = _partner_fields(form)
            now = clock.now()
            if merchant is None:
                merchant = partners.create_partner(fields, actor=current_user, now=now)
            else:
                partners.update_partner(merchant, fields, actor=current_user, now=now)
            if jpeg is not None:
                partners.save_photo(merchant, jpeg, now=now)
        except LinliError as exc:
            rollback_unit_of_work()
            field_for_error(form, exc.field, form.name).errors.append(str(exc))
        else:
            if merchant.status == "proposed":
                flash(_("Saved. The street administrator will look at it."), "info")
            else:
                flash(_("Saved."), "info")
            return redirect(url_for(".merchant_detail", merchant_id=merchant.id))
    return render_template("panel/partner_form.html", form=form, merchant=merchant)


@bp.route("/merchants/new", methods=["GET", "POST"])
@role_required("staff", "admin")
def merchant_new():
    return _partner_page()


def _visible_merchant(merchant_id: int):
    return offers.merchant_for_staff(merchant_id, _scope())


def _managed_merchant(merchant_id: int):
    merchant = _visible_merchant(merchant_id)
    if not partners.may_manage(current_user, merchant):
        abort(403)
    return merchant


@bp.route("/merchants/<int:merchant_id>/edit", methods=["GET", "POST"])
@role_required("staff", "admin")
def merchant_edit(merchant_id: int):
    return _partner_page(_managed_merchant(merchant_id))


# --- a partner's page ---------------------------------------------------------------------


@bp.route("/merchants/<int:merchant_id>")
@role_required("staff", "admin")
def merchant_detail(merchant_id: int):
    merchant = _visible_merchant(merchant_id)
    return render_template(
        "panel/merchant.html",
        merchant=merchant,
        manages=partners.may_manage(current_user, merchant),
        status_names=partners.status_names(),
        operators=partners.operators_of(merchant),
        settled=settlements.for_merchant(merchant, limit=6),
        yuan=yuan,
        rows=redemptions.latest_for_merchant(merchant),
        form=ButtonForm(),
        person_form=PersonForm(prefix="op"),
        reason_form=ReasonForm(),
        masked=mask_name,
    )


@bp.route("/merchants/<int:merchant_id>/status", methods=["POST"])
@role_required("staff", "admin")
def merchant_status(merchant_id: int):
    merchant = _visible_merchant(merchant_id)
    return after_change(
        back=url_for(".merchant_detail", merchant_id=merchant.id),
        action=lambda: partners.change_status(
            merchant,
            request.form.get("action", ""),
            note=request.form.get("note", ""),
            actor=current_user,
            now=clock.now(),
        ),
        done=_("Saved."),
    )


@bp.route("/merchants/<int:merchant_id>/operators", methods=["POST"])
@role_required("staff", "admin")
def operator_add(merchant_id: int):
    merchant = _managed_merchant(merchant_id)
    form = PersonForm(prefix="op")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(" ".join(str(e) for e in errors), "error")
        return redirect(url_for(".merchant_detail", merchant_id=merchant.id))
    return after_change(
        back=url_for(".merchant_detail", merchant_id=merchant.id),
        action=lambda: partners.add_operator(
            merchant,
            name=form.name.data,
            phone=form.phone.data,
            actor=current_user,
            now=clock.now(),
            link_url=set_password_url,
        ),
        done=_("Operator added. A message went to their phone."),
    )


def _operator(merchant, person_id: int):
    person = people.get(person_id)
    if person.id not in {p.id for p in partners.operators_of(merchant)}:
        abort(404)
    return person


@bp.route("/merchants/<int:merchant_id>/operators/<int:person_id>/remove", methods=["POST"])
@role_required("staff", "admin")
def operator_remove(merchant_id: int, person_id: int):
    merchant = _managed_merchant(merchant_id)
    person = _operator(merchant, person_id)
    return after_change(
        back=url_for(".merchant_detail", merchant_id=merchant.id),
        action=lambda: partners.remove_operator(
            merchant, person, actor=current_user, now=clock.now()
        ),
        done=_("Removed."),
    )


@bp.route("/merchants/<int:merchant_id>/operators/<int:person_id>/link", methods=["POST"])
@role_required("staff", "admin")
def operator_link(merchant_id: int, person_id: int):
    from app.people import accounts

    merchant = _managed_merchant(merchant_id)
    person = _operator(merchant, person_id)
    return after_change(
        back=url_for(".merchant_detail", merchant_id=merchant.id),
        action=lambda: accounts.send_password_link(
            person, actor=current_user, now=clock.now(), link_url=set_password_url
        ),
        done=_("A new set-password link went to their phone."),
    )


@bp.route("/merchants/<int:merchant_id>/approval", methods=["POST"])
@role_required("staff", "admin")
def merchant_approval(merchant_id: int):
    merchant = _visible_merchant(merchant_id)
    required = request.form.get("required") == "1"
    offers.set_offers_need_approval(merchant, required, actor=current_user, now=clock.now())
    flash(_("Saved."), "info")
    return redirect(url_for(".merchant_detail", merchant_id=merchant.id))


@bp.route("/merchants/<int:merchant_id>/offers/<int:offer_id>/review", methods=["POST"])
@role_required("staff", "admin")
def offer_review(merchant_id: int, offer_id: int):
    merchant = _visible_merchant(merchant_id)
    offer = offers.get_offer(offer_id)
    if offer.merchant_id != merchant.id:
        abort(404)
    try:
        offers.review_offer(
            offer,
            approve=request.form.get("decision") == "approve",
            note=request.form.get("note", ""),
            actor=current_user,
            now=clock.now(),
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(_("Saved."), "info")
    return redirect(
        request.form.get("back") == "list"
        and url_for(".merchant_list")
        or url_for(".merchant_detail", merchant_id=merchant.id)
    )


@bp.route("/merchants/<int:merchant_id>/redemptions/<int:redemption_id>/void", methods=["POST"])
@role_required("staff", "admin")
def redemption_void(merchant_id: int, redemption_id: int):
    merchant = _visible_merchant(merchant_id)
    redemption = redemptions.get_for_merchant(merchant, redemption_id)
    try:
        redemptions.void(
            redemption,
            actor=current_user,
            reason=request.form.get("reason", ""),
            now=clock.now(),
            as_staff=True,
        )
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(_("Voided: the points went back to the volunteer."), "info")
    return redirect(url_for(".merchant_detail", merchant_id=merchant.id))


def _staff_offer_page(merchant, offer=None):
    form = OfferForm(obj=None if request.method == "POST" else offer)
    if offer is not None and request.method == "GET":
        fill_offer_form(form, offer)
    if form.validate_on_submit():
        try:
            save_offer_form(
                merchant,
                form,
                offer,
                actor=current_user,
                by_staff=True,
                source="panel",
                now=clock.now(),
            )
        except LinliError as exc:
            rollback_unit_of_work()
            offer_error_field(form, exc.field).errors.append(str(exc))
        else:
            flash(_("Saved."), "info")
            return redirect(url_for(".merchant_detail", merchant_id=merchant.id))
    return render_template("panel/offer_form.html", merchant=merchant, form=form, offer=offer)


@bp.route("/merchants/<int:merchant_id>/offers/new", methods=["GET", "POST"])
@role_required("staff", "admin")
def staff_offer_new(merchant_id: int):
    return _staff_offer_page(_visible_merchant(merchant_id))


@bp.route("/merchants/<int:merchant_id>/offers/<int:offer_id>/edit", methods=["GET", "POST"])
@role_required("staff", "admin")
def staff_offer_edit(merchant_id: int, offer_id: int):
    merchant = _visible_merchant(merchant_id)
    offer = offers.get_offer(offer_id)
    if offer.merchant_id != merchant.id:
        abort(404)
    return _staff_offer_page(merchant, offer)
