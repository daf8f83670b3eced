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


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password (at least 8 characters)"),
        validators=[DataRequired(message=_l("Please enter a new password.")), Length(max=200)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("The new password again"),
        validators=[DataRequired(message=_l("Please enter it again.")), Length(max=200)],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Set the password"))


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(message=_l("Please enter your password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Change the password"))
