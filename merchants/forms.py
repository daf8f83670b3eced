from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class CodeForm(FlaskForm):
    code = StringField(
        _l("Volunteer's 6-digit code"),
        validators=[DataRequired(message=_l("Type the 6 digits under the volunteer's QR code."))],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": "300"},
    )
    submit = SubmitField(_l("Look up"))


class PhotoForm(FlaskForm):
    photo = FileField(
        _l("Photo of the volunteer's QR code"),
        render_kw={"accept": "image/*", "capture": "environment"},
    )
    submit = SubmitField(_l("Read the photo"))


class VoidForm(FlaskForm):
    reason = StringField(
        _l("Why void it?"),
        validators=[DataRequired(message=_l("A reason is required.")), Length(max=200)],
    )
    submit = SubmitField(_l("Void this redemption"))


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


class ButtonForm(FlaskForm):
    """A form that is only a button: it carries the CSRF token."""
