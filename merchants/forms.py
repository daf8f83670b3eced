from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Length


class CodeForm(FlaskForm):
    code = StringField(
        _l("Volunteer's 8-digit redemption code"),
        validators=[DataRequired(message=_l("Type the 8 digits under the volunteer's QR code."))],
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


class ButtonForm(FlaskForm):
    """A form that is only a button: it carries the CSRF token."""
