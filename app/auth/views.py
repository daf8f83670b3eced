from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app import demo
from app.auth import bp
from app.auth.forms import LoginForm
from app.core import clock
from app.core.errors import LinliError
from app.core.extensions import limiter
from app.people import people
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
