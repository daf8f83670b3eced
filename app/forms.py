"""Forms shared by more than one web edge (the shop's pages and the staff panel; the panel
and a 三长's phone)."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    Field,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.core import clock
from app.core.database import finish_reads
from app.core.errors import InvalidInput
from app.partners import offers

KINDS = [
    SelectChoice("discount", _l("Discount")),
    SelectChoice("service", _l("Service")),
    SelectChoice("goods", _l("Goods")),
]


class OfferForm(FlaskForm):
    title = StringField(
        _l("Title"), validators=[DataRequired(message=_l("A title is required.")), Length(max=100)]
    )
    kind = SelectField(_l("Kind"), choices=KINDS)
    points_cost = IntegerField(
        _l("Points"),
        validators=[
            InputRequired(message=_l("How many points does it cost?")),
            NumberRange(min=1, max=100_000),
        ],
    )
    money_value = DecimalField(
        _l("Money value it stands for (yuan, optional)"),
        places=2,
        validators=[Optional(), NumberRange(min=0, max=100_000)],
    )
    stock = IntegerField(
        _l("Stock (empty: unlimited)"), validators=[Optional(), NumberRange(min=0)]
    )
    daily_quota = IntegerField(
        _l("Daily quota (empty: none)"), validators=[Optional(), NumberRange(min=1)]
    )
    monthly_limit = IntegerField(
        _l("Per person per month (empty: no limit)"),
        validators=[Optional(), NumberRange(min=1, max=100)],
    )
    max_quantity = IntegerField(
        _l("Most units in one redemption"),
        default=1,
        validators=[InputRequired(), NumberRange(min=1, max=100)],
    )
    valid_from = DateField(_l("Valid from (optional)"), validators=[Optional()])
    valid_to = DateField(_l("Valid until (optional, inclusive)"), validators=[Optional()])
    active = BooleanField(_l("Offered now"), default=True)
    description = TextAreaField(_l("Description"), validators=[Length(max=2000)])
    photo = FileField(_l("Photo (optional)"), render_kw={"accept": "image/*"})
    submit = SubmitField(_l("Save"))


def day_start(day, end: bool = False):
    """A local calendar day as a UTC moment: its start, or (end=True) the next day's start."""
    if day is None:
        return None
    moment = datetime.combine(day + timedelta(days=1) if end else day, time())
    return moment.replace(tzinfo=clock.zone_for(None)).astimezone(UTC)


def offer_fields(form: OfferForm) -> offers.OfferFields:
    """The service's input from a filled OfferForm (yuan to fen, days to moments)."""
    money = form.money_value.data
    return offers.OfferFields(
        title=form.title.data,
        kind=form.kind.data,
        points_cost=form.points_cost.data,
        description=form.description.data or "",
        money_value_fen=int(money * 100) if money is not None else None,
        stock=form.stock.data,
        daily_quota=form.daily_quota.data,
        monthly_limit=form.monthly_limit.data,
        max_quantity=form.max_quantity.data or 1,
        valid_from=day_start(form.valid_from.data),
        valid_to=day_start(form.valid_to.data, end=True),
        active=form.active.data,
    )


def fill_offer_form(form: OfferForm, offer) -> None:
    """Show an offer's money and validity days the way the form asks for them."""
    form.money_value.data = (
        Decimal(offer.money_value_fen) / 100 if offer.money_value_fen is not None else None
    )
    form.valid_from.data = clock.local(offer.valid_from, None).date() if offer.valid_from else None
    form.valid_to.data = (
        (clock.local(offer.valid_to, None) - timedelta(days=1)).date() if offer.valid_to else None
    )


def field_for_error(form, field: str | None, default: Field) -> Field:
    """The form field a service error about `field` belongs to (`default` when the form has
    no field of that name), to show the message beside it."""
    target = getattr(form, field or "", None)
    return target if isinstance(target, Field) else default


def offer_error_field(form: OfferForm, field: str | None) -> Field:
    """The field an offer error belongs to: the money as typed, else by name, or the title."""
    if field == "money_value_fen":
        return form.money_value
    return field_for_error(form, field, form.title)


def uploaded_photo(field) -> bytes | None:
    """The photo a file field brought, checked and re-encoded small (`offers.prepare_photo`),
    or None when none came. It is decoded outside any transaction (`finish_reads`), so on
    SQLite the request holds no write lock meanwhile; a bad one raises before anything is
    written."""
    photos = uploaded_photos([field.data] if field.data else [], limit=1, field=field.name)
    return photos[0] if photos else None


def uploaded_photos(uploads, *, limit: int, field: str) -> list[bytes]:
    """The photos of a multiple file field (its `data`), each as `uploaded_photo` makes it;
    more than `limit` are refused before any is decoded."""
    chosen = [upload for upload in uploads or [] if getattr(upload, "filename", "")]
    if len(chosen) > limit:
        raise InvalidInput(_l("At most %(max)s photos."), field=field, max=limit)
    if chosen:
        finish_reads()
    return [offers.prepare_photo(upload.read()) for upload in chosen]


def save_offer_form(merchant, form: OfferForm, offer, *, actor, by_staff: bool, source: str, now):
    """Create or update the offer from a filled form, and keep a new photo if one came.

    A shop's own changes may wait for staff review; staff changes go live (`by_staff`).
    A photo is checked and decoded first, outside any transaction (app.database.finish_reads).
    """
    photo = uploaded_photo(form.photo)
    if offer is None:
        offer = offers.create_offer(
            merchant, offer_fields(form), actor=actor, by_staff=by_staff, now=now, source=source
        )
    else:
        offers.update_offer(
            offer, offer_fields(form), actor=actor, by_staff=by_staff, now=now, source=source
        )
    if photo is not None:
        offers.save_photo(offer, photo, now=now)
    return offer


class BroadcastForm(FlaskForm):
    """A group message: its text and channels; `key` is drawn at the preview, so sending
    the confirmed form twice sends it once."""

    body = TextAreaField(
        _l("Message"),
        validators=[DataRequired(message=_l("Write the message.")), Length(max=300)],
        render_kw={"rows": 5, "maxlength": 300},
    )
    sms = BooleanField(_l("Text message (SMS)"), default=True)
    wechat = BooleanField(_l("WeChat, where the person follows the account"), default=True)
    telegram = BooleanField(_l("Telegram, where the person linked a chat"), default=True)
    key = HiddenField()
