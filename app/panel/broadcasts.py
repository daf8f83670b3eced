"""Panel pages for group messages (群发通知): write, preview who it reaches and what it costs,
send once; the list of what was sent and how far each got."""

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user

from app.channels import broadcasts
from app.core.errors import LinliError
from app.forms import BroadcastForm
from app.models.base import db_id
from app.panel import bp
from app.people import people
from app.web import role_required, write_broadcast


def _scope():
    return people.visible_community_ids(current_user)


@bp.route("/broadcasts")
@role_required("staff", "admin")
def broadcast_list():
    sent = broadcasts.recent(_scope())
    delivered = broadcasts.delivered([b.id for b in sent])
    return render_template("panel/broadcasts.html", sent=[(b, delivered[b.id]) for b in sent])


def _target() -> broadcasts.Target:
    target_id = request.args.get("id", type=db_id)
    if target_id is None:
        abort(404)
    try:
        to = broadcasts.target(request.args.get("kind", ""), target_id)
    except LinliError:
        abort(404)
    if not broadcasts.may_send(current_user, to, _scope()):
        abort(404)  # another community's group is not there, for this worker
    return to


@bp.route("/broadcasts/new", methods=["GET", "POST"])
@role_required("staff", "admin")
def broadcast_new():
    to = _target()
    form = BroadcastForm()
    sent, preview = write_broadcast(to, form, community_ids=_scope(), source="panel")
    if sent is not None:
        return redirect(url_for(".broadcast_detail", broadcast_id=sent.id))
    return render_template("panel/broadcast_form.html", to=to, form=form, preview=preview)


@bp.route("/broadcasts/<int:broadcast_id>")
@role_required("staff", "admin")
def broadcast_detail(broadcast_id: int):
    try:
        sent = broadcasts.get(broadcast_id, _scope())
    except LinliError:
        abort(404)
    delivered = broadcasts.delivered([sent.id])[sent.id]
    return render_template("panel/broadcast.html", sent=sent, delivered=delivered)
