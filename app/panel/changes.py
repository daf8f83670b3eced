"""The one way a panel button changes something: check the form's CSRF token, run the
service, roll a refusal back and show it, say what was done, and go back to the page."""

from flask import abort, flash, redirect
from flask_babel import gettext as _

from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.panel.forms import ButtonForm


def after_change(action, back: str, done: str | None = None):
    """Run `action()`; a LinliError is rolled back and flashed; then redirect to `back`."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        action()
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        flash(done or _("Saved."), "info")
    return redirect(back)
