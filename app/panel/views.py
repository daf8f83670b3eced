from flask import abort, current_app, render_template
from flask_login import current_user

from app import clock, outbox, people, reports
from app.panel import bp
from app.web import role_required


@bp.route("/")
@role_required("staff", "admin")
def index():
    visible = people.visible_community_ids(current_user)
    rows = reports.community_overview(clock.now(), visible)
    return render_template("panel/index.html", rows=rows)


@bp.route("/outbox")
@role_required("staff", "admin")
def dev_outbox():
    # Messages hold sign-in codes: shown to staff only in demo mode, where nothing is sent.
    if not current_app.config["DEMO_MODE"]:
        abort(404)
    return render_template("panel/outbox.html", messages=outbox.recent())
