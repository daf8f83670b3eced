from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length


class PhoneForm(FlaskForm):
    phone = StringField(
        _l("Mobile phone number"),
        validators=[
            DataRequired(message=_l("Please enter your mobile phone number.")),
            Length(max=30),
        ],
        render_kw={
            "autocomplete": "tel",
            "inputmode": "tel",
            "type": "tel",
            "placeholder": "138 0013 8000",
        },
    )
    submit = SubmitField(_l("Send me a code"))


class CodeForm(FlaskForm):
    code = StringField(
        _l("The 6-digit code from the text message"),
        validators=[DataRequired(message=_l("Please enter the code.")), Length(max=12)],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "pattern": "[0-9 ]*",
            "maxlength": "7",
        },
    )
    submit = SubmitField(_l("Sign in"))


class JoinForm(FlaskForm):
    name = StringField(
        _l("Your name"),
        validators=[DataRequired(message=_l("Please enter your name.")), Length(max=50)],
        render_kw={"autocomplete": "name"},
    )
    community = SelectField(_l("Your community"), coerce=int)
    submit = SubmitField(_l("Join"))


class ButtonForm(FlaskForm):
    """A form that is only a button (sign up, cancel, confirm): it carries the CSRF token."""


class DeedReportForm(FlaskForm):
    """A good deed the resident reports (好人好事): what, for whom, where; a photo if any."""

    text = TextAreaField(
        _l("What did you do, for whom, and where?"),
        validators=[
            DataRequired(message=_l("Say what was done, for whom, and where.")),
            Length(max=300),
        ],
        render_kw={"rows": 4, "maxlength": 300},
    )
    photo = FileField(_l("A photo (optional)"), render_kw={"accept": "image/*"})
    submit = SubmitField(_l("Send it to the staff"))


class NeedForm(FlaskForm):
    """A need or problem (求助): what, of which kind, where; up to three photos. A 三长 or
    worker may post it for a resident (by the resident's phone number)."""

    kind = SelectField(_l("What kind of help"), coerce=int)
    text = TextAreaField(
        _l("What is needed?"),
        validators=[
            DataRequired(message=_l("Say what is needed, e.g. the kitchen tap leaks.")),
            Length(max=300),
        ],
        render_kw={"rows": 4, "maxlength": 300},
    )
    place = SelectField(_l("Where"), coerce=int)
    place_note = StringField(
        _l("A public place (optional), e.g. the east gate"),
        validators=[Length(max=100)],
        render_kw={"maxlength": 100},
    )
    for_phone = StringField(
        _l("For a resident (their phone number; leave empty for yourself)"),
        validators=[Length(max=30)],
        render_kw={"inputmode": "tel", "type": "tel", "autocomplete": "off"},
    )
    photos = MultipleFileField(
        _l("Up to 3 photos (optional)"), render_kw={"accept": "image/*", "multiple": True}
    )
    submit = SubmitField(_l("Ask for help"))


class NeedActionForm(FlaskForm):
    """A step on a need (take, done, confirm, dispute, rate …): the note or reason and the
    stars the step asks for; the CSRF token."""

    note = StringField(_l("Note"), validators=[Length(max=200)], render_kw={"maxlength": 200})
    rating = SelectField(
        _l("Stars"),
        choices=[SelectChoice(n, "★" * n) for n in range(5, 0, -1)],
        coerce=int,
        default=5,
        validate_choice=False,  # only the rating step reads it; the service checks 1–5
    )


class PartyReportForm(FlaskForm):
    """A working party member reports to their residential community (在职党员报到)."""

    employer = StringField(
        _l("Where you work"),
        validators=[DataRequired(message=_l("Say where you work.")), Length(max=100)],
        render_kw={"autocomplete": "organization", "maxlength": 100},
    )
    branch = StringField(
        _l("Your party branch (optional)"),
        validators=[Length(max=100)],
        render_kw={"maxlength": 100},
    )
    submit = SubmitField(_l("Report to my community"))
