from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    login = StringField(
        _l("Phone number or login name"),
        validators=[
            DataRequired(message=_l("Please enter your phone number or login name.")),
            Length(max=50),
        ],
        render_kw={"autocomplete": "username", "inputmode": "text"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Please enter your password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Keep me signed in on this device"), default=True)
    submit = SubmitField(_l("Sign in"))
