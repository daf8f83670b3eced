from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

TIME_FORMAT = "%Y-%m-%dT%H:%M"


class ActivityForm(FlaskForm):
    title = StringField(
        _l("Title"), validators=[DataRequired(message=_l("A title is required.")), Length(max=100)]
    )
    community = SelectField(_l("Community"), coerce=int)
    team = SelectField(_l("Team (optional)"), coerce=int)
    category = SelectField(_l("Kind of service"), default="other")
    place = StringField(_l("Place"), validators=[Length(max=200)])
    starts_at = DateTimeLocalField(
        _l("Starts"),
        format=TIME_FORMAT,
        validators=[InputRequired(message=_l("When does it start?"))],
    )
    ends_at = DateTimeLocalField(
        _l("Ends"),
        format=TIME_FORMAT,
        validators=[InputRequired(message=_l("When does it end?"))],
    )
    capacity = IntegerField(
        _l("Places (empty: no limit)"), validators=[Optional(), NumberRange(min=1, max=100_000)]
    )
    points_rule = RadioField(
        _l("Points"),
        choices=[
            SelectChoice("fixed", _l("A fixed number")),
            SelectChoice("per_hour", _l("Per hour (rounded down)")),
        ],
        default="fixed",
    )
    points = IntegerField(
        _l("Points (fixed, or per hour)"),
        default=10,
        validators=[InputRequired(message=_l("How many points?")), NumberRange(min=0, max=10_000)],
    )
    needs_approval = BooleanField(_l("Staff approve each attendance before points are posted"))
    signup_required = BooleanField(_l("Only people who signed up may check in"))
    description = TextAreaField(_l("Description"), validators=[Length(max=4000)])
    photo = FileField(_l("Cover picture (JPEG, PNG or WebP, optional)"))
    submit = SubmitField(_l("Save"))


class ReasonForm(FlaskForm):
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(message=_l("A reason is required.")), Length(max=200)],
    )
    submit = SubmitField(_l("Reject"))


class TimesForm(FlaskForm):
    checked_in_at = DateTimeLocalField(
        _l("Checked in"), format=TIME_FORMAT, validators=[InputRequired()]
    )
    checked_out_at = DateTimeLocalField(
        _l("Checked out"), format=TIME_FORMAT, validators=[InputRequired()]
    )
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(message=_l("A reason is required.")), Length(max=200)],
    )
    submit = SubmitField(_l("Correct the times"))


class ButtonForm(FlaskForm):
    """A form that is only a button: it carries the CSRF token."""


CATEGORY_CHOICES = [
    SelectChoice("elderly_care", _l("Elderly care")),
    SelectChoice("environment", _l("Environment")),
    SelectChoice("mediation", _l("Mediation")),
    SelectChoice("safety", _l("Safety patrol")),
    SelectChoice("culture", _l("Culture and education")),
    SelectChoice("health", _l("Health")),
    SelectChoice("other", _l("Other good deeds")),
]


class RuleForm(FlaskForm):
    title = StringField(
        _l("Deed"), validators=[DataRequired(message=_l("A title is required.")), Length(max=100)]
    )
    category = SelectField(_l("Category"), choices=CATEGORY_CHOICES)
    # 0: the whole street (administrators); otherwise one of the staff member's communities.
    community = SelectField(_l("Used in"), coerce=int)
    points = IntegerField(
        _l("Points"),
        validators=[InputRequired(message=_l("How many points?")), NumberRange(min=1, max=10_000)],
    )
    daily_limit = IntegerField(
        _l("Times per person per day (empty: no limit)"),
        validators=[Optional(), NumberRange(min=1, max=1000)],
    )
    monthly_limit = IntegerField(
        _l("Times per person per month (empty: no limit)"),
        validators=[Optional(), NumberRange(min=1, max=1000)],
    )
    evidence_required = BooleanField(_l("Evidence (a note or photo) is required"))
    active = BooleanField(_l("In use"), default=True)
    deducts = BooleanField(_l("A deduction (扣分): staff take these points, with a reason"))
    owe_beyond_balance = BooleanField(
        _l("What the wallet lacks is owed and taken from what the person earns next")
    )
    submit = SubmitField(_l("Save"))


class DeductionForm(FlaskForm):
    """Points taken under a deduction rule, with the reason the person reads, evidence."""

    rule = SelectField(_l("Rule"), coerce=int)
    reason = StringField(
        _l("What happened (the resident reads it)"),
        validators=[
            DataRequired(message=_l("Say what happened: the resident reads it.")),
            Length(max=200),
        ],
    )
    photo = FileField(_l("A photo as evidence"), render_kw={"accept": "image/*"})
    key = StringField(validators=[DataRequired(), Length(max=100)])
    submit = SubmitField(_l("Deduct"))


class AdjustmentForm(FlaskForm):
    person = IntegerField(validators=[InputRequired()])
    points = IntegerField(
        _l("Points (negative to take away)"),
        validators=[InputRequired(message=_l("How many points?"))],
    )
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(message=_l("A reason is required.")), Length(max=200)],
    )
    key = StringField(validators=[DataRequired(), Length(max=100)])
    # Offered while last month's statement is unpublished; its label names the month.
    for_last_month = BooleanField(_l("It makes up for last month: count it there"))
    submit = SubmitField(_l("Save the correction"))


class PersonForm(FlaskForm):
    """A person's name and phone (a resident, a shop operator, a staff member)."""

    name = StringField(
        _l("Name"), validators=[DataRequired(message=_l("A name is required.")), Length(max=50)]
    )
    phone = StringField(
        _l("Mobile phone number"),
        validators=[
            DataRequired(message=_l("Please enter the mobile phone number.")),
            Length(max=30),
        ],
        render_kw={"inputmode": "tel", "type": "tel"},
    )
    submit = SubmitField(_l("Add"))


class ResidentForm(PersonForm):
    community = SelectField(_l("Community"), coerce=int)
    grid = StringField(_l("Grid"), validators=[Length(max=100)])
    building = StringField(_l("Building"), validators=[Length(max=100)])
    unit = StringField(_l("Unit"), validators=[Length(max=100)])
    room = StringField(_l("Room"), validators=[Length(max=100)])
    tags = StringField(_l("Tags (separate with 、 or ;)"), validators=[Length(max=300)])
    submit = SubmitField(_l("Save"))


class ImportForm(FlaskForm):
    community = SelectField(_l("Community"), coerce=int)
    file = FileField(_l("CSV file"))
    submit = SubmitField(_l("Check the file"))


class ApiTokenForm(FlaskForm):
    who = StringField(
        _l("Phone number or login of the person the token acts for"),
        validators=[DataRequired(message=_l("Whose token is it?")), Length(max=100)],
    )
    name = StringField(
        _l("What it is for"),
        validators=[DataRequired(message=_l("A name is required.")), Length(max=100)],
    )
    submit = SubmitField(_l("Make the token"))


class PartnerForm(FlaskForm):
    name = StringField(
        _l("Partner name"),
        validators=[DataRequired(message=_l("The partner needs a name.")), Length(max=100)],
    )
    tier = RadioField(
        _l("Partner level"),
        choices=[
            SelectChoice("community", _l("Community level: serves the communities chosen below")),
            SelectChoice("street", _l("Street level: serves every community of the street")),
        ],
        default="community",
    )
    communities = SelectMultipleField(_l("Communities served"), coerce=int)
    category = SelectField(_l("Category"))
    new_category = StringField(_l("Or a new category"), validators=[Length(max=30)])
    address = StringField(_l("Address"), validators=[Length(max=200)])
    opening_hours = StringField(_l("Opening hours"), validators=[Length(max=100)])
    contact_name = StringField(_l("Contact person"), validators=[Length(max=50)])
    contact_phone = StringField(
        _l("Contact phone"),
        validators=[Length(max=30)],
        render_kw={"type": "tel", "inputmode": "tel"},
    )
    offers_need_approval = BooleanField(_l("New and changed offers wait for staff approval"))
    description = TextAreaField(
        _l("Short description for the volunteers' catalogue"), validators=[Length(max=1000)]
    )
    photo = FileField(_l("Photo (JPEG, PNG or WebP)"))
    submit = SubmitField(_l("Save"))


class StaffForm(PersonForm):
    role = RadioField(
        _l("Role"),
        choices=[
            SelectChoice("staff", _l("Social worker (the communities chosen)")),
            SelectChoice("admin", _l("Street administrator (everything)")),
        ],
        default="staff",
    )
    communities = SelectMultipleField(_l("Communities"), coerce=int)
    submit = SubmitField(_l("Create the account"))


class ScopeForm(FlaskForm):
    communities = SelectMultipleField(_l("Communities"), coerce=int)
    submit = SubmitField(_l("Save"))


class NeedKindForm(FlaskForm):
    """A kind of need (需求类型): who handles it by default, each triage step's time, the
    taker's points and how many a month one taker is paid for."""

    name = StringField(
        _l("Kind"), validators=[DataRequired(message=_l("Give the kind a name.")), Length(max=50)]
    )
    keywords = StringField(
        _l("Words that pick it from a text message, separated by spaces (水管 漏水 灯)"),
        validators=[Length(max=200)],
    )
    # 0: the whole street (administrators); otherwise one of the staff member's communities.
    community = SelectField(_l("Used in"), coerce=int)
    team = SelectField(
        _l("Handled first by (empty: the unit, building and grid leaders)"), coerce=int
    )
    points = IntegerField(
        _l("Points to the volunteer who does it"),
        validators=[InputRequired(message=_l("How many points?")), NumberRange(min=0, max=1000)],
    )
    step_hours = IntegerField(
        _l("Hours each step has before it climbs to the next"),
        default=24,
        validators=[InputRequired(), NumberRange(min=1, max=24 * 14)],
    )
    monthly_limit = IntegerField(
        _l("Paid at most this many times per volunteer per month (empty: no limit)"),
        validators=[Optional(), NumberRange(min=1, max=1000)],
    )
    active = BooleanField(_l("In use"), default=True)
    submit = SubmitField(_l("Save"))


class NeedForStaffForm(FlaskForm):
    """A need posted by a worker for a resident who phoned or came in."""

    phone = StringField(
        _l("The resident's phone number"),
        validators=[DataRequired(message=_l("Whose request is it?")), Length(max=30)],
    )
    kind = SelectField(_l("Kind"), coerce=int)
    text = TextAreaField(
        _l("What is needed?"),
        validators=[
            DataRequired(message=_l("Say what is needed, e.g. the kitchen tap leaks.")),
            Length(max=300),
        ],
        render_kw={"rows": 3, "maxlength": 300},
    )
    submit = SubmitField(_l("Post the request"))


class ResourceForm(FlaskForm):
    """A line of the resources list: an offer (a unit's or a person's) or a service post."""

    kind = SelectField(
        _l("Kind"),
        choices=[
            SelectChoice("offer", _l("An offer (a partner unit or a person gives it)")),
            SelectChoice("post", _l("A service post to take up (岗位)")),
        ],
    )
    title = StringField(
        _l("Title"), validators=[DataRequired(message=_l("A title is required.")), Length(max=100)]
    )
    description = TextAreaField(
        _l("Description"), validators=[Length(max=500)], render_kw={"rows": 3}
    )
    # 0: the whole street (administrators); otherwise one of the staff member's communities.
    community = SelectField(_l("Used in"), coerce=int)
    provider_merchant = SelectField(_l("Offered by a partner unit"), coerce=int)
    provider_phone = StringField(
        _l("… or by a person (their phone number)"), validators=[Length(max=30)]
    )
    capacity = IntegerField(
        _l("Capacity a month (offers) or places (posts); empty: no limit"),
        validators=[Optional(), NumberRange(min=1, max=10_000)],
    )
    capacity_unit = SelectField(
        _l("Counted in"),
        choices=[
            SelectChoice("times", _l("times a month")),
            SelectChoice("hours", _l("hours a month")),
        ],
    )
    active = BooleanField(_l("In use"), default=True)
    submit = SubmitField(_l("Save"))


class PartyReportStaffForm(FlaskForm):
    """A worker records a working party member's report for them."""

    phone = StringField(
        _l("The member's phone number"),
        validators=[DataRequired(message=_l("Whose report is it?")), Length(max=30)],
    )
    employer = StringField(
        _l("Where they work"),
        validators=[DataRequired(message=_l("Say where you work.")), Length(max=100)],
    )
    branch = StringField(_l("Party branch (optional)"), validators=[Length(max=100)])
    submit = SubmitField(_l("Record the report"))
