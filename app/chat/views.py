"""Channel adapters. SMS: a gateway posts each inbound text (Twilio's form: From, To, Body,
MessageSid, signed with X-Twilio-Signature) and gets TwiML back with the reply."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from xml.sax.saxutils import escape

from flask import Response, abort, current_app, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app import clock, people
from app.chat import bp, commands, sms_text
from app.errors import LinliError
from app.extensions import csrf, db
from app.models import InboundMessage

log = logging.getLogger(__name__)


def twilio_signature(token: str, url: str, params: dict[str, list[str]]) -> str:
    """Base64 of HMAC-SHA1 over the URL followed by each parameter name and value, sorted
    by name (a repeated parameter: each of its values, sorted)."""
    payload = url + "".join(
        f"{key}{value}" for key in sorted(params) for value in sorted(params[key])
    )
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _signed_url() -> str:
    """The URL the gateway called, as it saw it (behind a proxy: LINLI_PUBLIC_URL)."""
    base = current_app.config["PUBLIC_URL"]
    if base:
        return base + request.full_path.rstrip("?")
    return request.url


def _verify_sms_signature() -> None:
    token = current_app.config["SMS_AUTH_TOKEN"]
    if not token:
        if current_app.config["DEMO_MODE"]:
            return  # demo mode without a gateway: curl can talk to it
        log.warning("inbound SMS refused: SMS_AUTH_TOKEN is not configured")
        abort(403)
    given = request.headers.get("X-Twilio-Signature", "")
    expected = twilio_signature(token, _signed_url(), dict(request.form.lists()))
    if not hmac.compare_digest(given.encode(), expected.encode()):
        log.warning("inbound SMS refused: bad signature from %s", request.remote_addr)
        abort(403)


def _twiml(parts: list[str]) -> Response:
    body = "".join(f"<Message>{escape(part)}</Message>" for part in parts)
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
    return Response(xml, mimetype="application/xml")


@bp.route("/sms/inbound", methods=["POST"])
@csrf.exempt
def sms_inbound():
    _verify_sms_signature()
    sid = (request.form.get("MessageSid") or request.form.get("SmsSid") or "").strip()[:64]
    sender = (request.form.get("From") or "").strip()[:64]
    text = (request.form.get("Body") or "")[:500]
    if not sid or not sender:
        abort(400)
    now = clock.now()
    try:
        person = people.find_by_phone(sender)
    except LinliError:
        person = None
    seen = InboundMessage(
        channel="sms",
        external_id=sid,
        sender=sender,
        person_id=person.id if person else None,
        text=text,
        received_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(seen)
            db.session.flush()
    except IntegrityError:  # the gateway delivered this message again: same answer
        first = db.session.query(InboundMessage).filter_by(channel="sms", external_id=sid).one()
        return _twiml(first.reply.split("\x1e") if first.reply else [])
    reply = commands.respond(person, text, now=now)
    more = " " + _("More: %(url)s", url=_public(url_for("volunteers.index")))
    parts = sms_text.split(reply, more=more)
    seen.reply = "\x1e".join(parts)[:2000]
    db.session.flush()
    return _twiml(parts)


def _public(path: str) -> str:
    return (current_app.config["PUBLIC_URL"] or request.host_url.rstrip("/")) + path
