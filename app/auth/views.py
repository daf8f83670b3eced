from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app import demo
from app.auth import bp
from app.auth.forms import ChangePasswordForm, LoginForm, NewPasswordForm
from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.core.extensions import limiter
from app.people import accounts, people
from app.web import home_for, safe_next


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            person = people.authenticate(form.login.data, form.password.data, now=clock.now())
        except LinliError as exc:
            person = None
            form.password.errors.append(str(exc))
        else:
            if person is None:
                form.password.errors.append(_("The phone number, login name or password is wrong."))
        if person is not None:
            login_user(person, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")) or home_for(person))
    demo_logins = demo.DEMO_LOGINS if current_app.config["DEMO_MODE"] else []
    return render_template("auth/login.html", form=form, demo_logins=demo_logins)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # Ends every session of the person, on every device, and the remember-me token.
    people.end_sessions(current_user)
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("volunteers.index"))


_PASSWORD_FIELDS = ("password", "confirm", "current")


@bp.route("/set-password/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def set_password(token: str):
    """A one-time link sent to a new staff member or shop operator (or a reset). Opening it
    changes nothing (a chat app's link preview must not use it up); saving does."""
    now = clock.now()
    try:
        link = accounts.read_link(token, now=now)
    except LinliError as exc:
        return render_template("auth/set_password.html", form=None, dead=str(exc)), 410
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            person = accounts.use_link(token, form.password.data, form.confirm.data, now=now)
        except LinliError as exc:
            rollback_unit_of_work()
            target = exc.field if exc.field in _PASSWORD_FIELDS else "password"
            getattr(form, target).errors.append(str(exc))
        else:
            logout_user()
            login_user(person)
            flash(_("Your password is set. You are signed in."), "info")
            return redirect(home_for(person))
    return render_template("auth/set_password.html", form=form, person=link.person, dead=None)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                current_user,
                form.current.data,
                form.password.data,
                form.confirm.data,
                now=clock.now(),
            )
        except LinliError as exc:
            rollback_unit_of_work()
            target = exc.field if exc.field in _PASSWORD_FIELDS else "password"
            getattr(form, target).errors.append(str(exc))
        else:
            # The new password ended every session, this one too: sign in again here.
            login_user(current_user._get_current_object())
            flash(_("Your password is changed. Every other device is signed out."), "info")
            return redirect(home_for(current_user))
    return render_template("auth/change_password.html", form=form)
