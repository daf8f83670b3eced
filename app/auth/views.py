from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app import demo, people
from app.auth import bp
from app.auth.forms import LoginForm
from app.extensions import limiter


def home_for(person) -> str:
    if person.has_role("staff") or person.has_role("admin"):
        return url_for("panel.index")
    if person.has_role("merchant"):
        return url_for("merchants.index")
    return url_for("volunteers.index")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never follow ?next= to another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        person = people.authenticate(form.login.data, form.password.data)
        if person is None:
            form.password.errors.append(_("The phone number, login name or password is wrong."))
        else:
            login_user(person, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")) or home_for(person))
    demo_logins = demo.DEMO_LOGINS if current_app.config["DEMO_MODE"] else []
    return render_template("auth/login.html", form=form, demo_logins=demo_logins)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("volunteers.index"))
