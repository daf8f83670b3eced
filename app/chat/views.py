"""Channel adapters. SMS: a gateway posts each inbound text (Twilio's form: From, To, Body,
MessageSid, signed with X-Twilio-Signature) and gets TwiML back with the reply."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from xml.sax.saxutils import escape

import sqlalchemy as sa
from flask import Response, abort, current_app, jsonify, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from app.channels import sms_text
from app.chat import bp, commands, linking
from app.chat.parser import digits, parse
from app.core import clock
from app.core.database import insert_unless_taken
from app.core.errors import LinliError
from app.core.extensions import csrf, db
from app.models import InboundMessage
from app.people import people
from app.web import public_url

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
    seen = insert_unless_taken(
        InboundMessage,
        dict(
            channel="sms",
            external_id=sid,
            sender=sender,
            person_id=person.id if person else None,
            text=text,
            received_at=now,
        ),
    )
    if seen is None:  # the gateway delivered this message again: the same answer
        first = db.session.scalars(
            sa.select(InboundMessage).filter_by(channel="sms", external_id=sid)
        ).one()
        return _twiml(first.reply.split("\x1e") if first.reply else [])
    to = (request.form.get("To") or "").strip()[:64]
    address = person.phone if person is not None else _phone_or_blank(sender)
    reply = commands.respond(person, text, now=now, sender=commands.Sender("sms", address, to)).text
    # One message: the gateway sends it as concatenated parts the phone joins in order.
    more = _("More: %(url)s", url=public_url(url_for("volunteers.index")))
    message = sms_text.fit(reply, more=more)
    seen.reply = message
    db.session.flush()
    return _twiml([message])


def _phone_or_blank(sender: str) -> str:
    """The sender's number in E.164, or "" when it is not a phone number (an alphanumeric
    sender id): a number nobody registered may still text STOP or 注册."""
    from app.core.phones import normalize_phone

    try:
        return normalize_phone(sender)
    except LinliError:
        return ""


# --- Telegram -----------------------------------------------------------------------------

TELEGRAM = commands.Sender("telegram")


class _Lenient(Schema):
    """Telegram adds fields over time; unknown ones are ignored, not refused."""

    class Meta:
        unknown = EXCLUDE


class _From(_Lenient):
    id = fields.Integer(required=True)
    language_code = fields.String(load_default="zh")


class _Chat(_Lenient):
    id = fields.Integer(required=True)


class _Contact(_Lenient):
    phone_number = fields.String(required=True)
    user_id = fields.Integer(load_default=None)


class _Message(_Lenient):
    message_id = fields.Integer(required=True)
    chat = fields.Nested(_Chat, required=True)
    from_ = fields.Nested(_From, data_key="from", required=True)
    text = fields.String(load_default="")
    contact = fields.Nested(_Contact, load_default=None)


class UpdateSchema(_Lenient):
    """The parts of a Bot API Update we use; everything else Telegram sends is ignored."""

    update_id = fields.Integer(required=True)
    message = fields.Nested(_Message, load_default=None)


# Made once: an instance deep-copies its fields, and every chat message at a check-in burst
# is loaded through it.
UPDATE = UpdateSchema()


def _verify_telegram_secret() -> None:
    secret = current_app.config["TELEGRAM_WEBHOOK_SECRET"]
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        log.warning("Telegram update refused: wrong or missing secret token")
        abort(403)


def _send(chat_id: int, text: str, *, ask_contact: bool = False, qr_token: str | None = None):
    """Answer in the webhook response itself (a Bot API method call): a picture of the QR
    code when there is one and Telegram can fetch it from our public https address."""
    base = current_app.config["PUBLIC_URL"] or ""
    if qr_token and base.startswith("https://"):
        photo = base + url_for("chat.qr_png", token=qr_token)
        return jsonify(method="sendPhoto", chat_id=chat_id, photo=photo, caption=text[:1024])
    body = {"method": "sendMessage", "chat_id": chat_id, "text": text[:4096]}
    if ask_contact:
        body["reply_markup"] = {
            "keyboard": [[{"text": _("Share my phone number"), "request_contact": True}]],
            "resize_keyboard": True,
            "one_time_keyboard": True,
        }
    return jsonify(body)


@bp.route("/telegram/webhook", methods=["POST"])
@csrf.exempt
def telegram_webhook():
    _verify_telegram_secret()
    try:
        update = UPDATE.load(request.get_json(silent=True) or {})
    except ValidationError:
        abort(400)
    message = update["message"]
    if message is None:
        return jsonify({})  # an edit, a join, a callback: nothing to answer
    now = clock.now()
    sender = str(message["from_"]["id"])
    chat_id = message["chat"]["id"]
    seen = insert_unless_taken(
        InboundMessage,
        dict(
            channel="telegram",
            external_id=str(update["update_id"]),
            sender=sender,
            text=message["text"][:500],
            received_at=now,
        ),
    )
    if seen is None:  # Telegram retried an update we answered: once only
        return jsonify({})
    locale = "en" if message["from_"]["language_code"].startswith("en") else "zh"
    link = linking.link_for("telegram", sender, str(chat_id), now)
    person = linking.person_of(link)
    with force_locale(person.locale if person else locale):
        reply, ask = _telegram_reply(link, person, message, now, locale)
    if isinstance(reply, commands.Reply):
        reply, qr_token = reply.text, reply.qr_token
    else:
        qr_token = None
    seen.person_id = link.person_id
    seen.reply = reply[:2000]
    db.session.flush()
    return _send(chat_id, reply, ask_contact=ask, qr_token=qr_token)


def _telegram_reply(link, person, message, now, locale) -> tuple[str | commands.Reply, bool]:
    contact = message["contact"]
    if contact is not None:
        if contact["user_id"] != message["from_"]["id"]:
            return _("Please share your own phone number."), True
        try:
            person = linking.by_contact(link, contact["phone_number"], now)
        except LinliError as exc:
            return str(exc), True
        if person is None:
            return commands.respond(None, "", now=now, locale=locale, sender=TELEGRAM).text, False
        with force_locale(person.locale):
            return _(
                "Linked to %(name)s. Text 帮助 (HELP) for the commands.", name=person.name
            ), False
    command = parse(message["text"])
    if person is None:
        return _unlinked(link, command, now, locale)
    if command.name == "start" and command.argument.startswith("ci_"):
        return _deep_link_check_in(person, command.argument, now), False
    return commands.respond(person, message["text"], now=now, sender=TELEGRAM), False


def _linked(person) -> str:
    return _("Linked to %(name)s. Text 帮助 (HELP) for the commands.", name=person.name)


def _unlinked(link, command, now, locale) -> tuple[str, bool]:
    try:
        if command.name == "link" and digits(command.argument):
            linking.ask_code(link, command.argument, now=now, locale=locale)
            return _("A code was texted to that phone. Send the 6 digits here."), False
        if link.pending_phone and len(digits(command.argument or command.name)) == 6:
            person = linking.with_code(link, digits(command.argument or command.name), now=now)
            if person is not None:
                return _(
                    "Linked to %(name)s. Text 帮助 (HELP) for the commands.", name=person.name
                ), False
            return commands.respond(None, "", now=now, locale=locale, sender=TELEGRAM).text, False
    except LinliError as exc:
        return str(exc), False
    return (
        _(
            "Welcome to Linli. Share your phone number with the button below, or send "
            "绑定 and your phone number (LINK 13800138000)."
        ),
        True,
    )


def _deep_link_check_in(person, argument: str, now) -> commands.Reply:
    """/start ci_<activity>_<4 digits>: the Telegram link beside a projector's QR code."""

    parts = argument.split("_")
    if len(parts) != 3 or not parts[1].isdigit():
        return commands.respond(person, "", now=now, sender=TELEGRAM)
    return commands.respond(person, f"签到 {parts[2]}", now=now, sender=TELEGRAM, detect=False)


@bp.route("/qr/<token>.png")
def qr_png(token: str):
    """A personal code as a picture for Telegram to fetch (only a valid signed token)."""
    from app.core import qr
    from app.partners import personal_codes

    if not personal_codes.looks_signed(token):
        abort(404)
    return Response(qr.png(token), mimetype="image/png", headers={"Cache-Control": "no-store"})
