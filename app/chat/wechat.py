"""The WeChat Official Account (公众号) as a chat channel, beside SMS and Telegram: the same
command language, the same linking by 绑定 and a texted code.

WeChat calls the server URL (`/chat/wechat`) with `signature`, `timestamp` and `nonce` in
the query: the SHA-1 of the sorted token, timestamp and nonce. A GET is the URL check (the
answer is `echostr`); a POST carries a message as XML, in safe mode (`encrypt_type=aes`)
encrypted with the EncodingAESKey and signed again (`msg_signature`). The answer is a
passive reply in the same XML (encrypted the same way), which WeChat waits for five
seconds; without one it asks again, up to three times, with the same MsgId: each MsgId is
handled once and its stored reply given again. wechatpy (PyPI) checks the signatures,
decrypts, encrypts and reads and writes the XML.
"""

from __future__ import annotations

import logging
import struct

import sqlalchemy as sa
from flask import Response, abort, current_app, request
from flask_babel import force_locale
from flask_babel import gettext as _

from app.chat import bp, commands, linking
from app.chat.parser import digits, parse
from app.core import clock
from app.core.database import insert_unless_taken
from app.core.errors import LinliError
from app.core.extensions import csrf, db
from app.models import InboundMessage

log = logging.getLogger(__name__)

WECHAT = commands.Sender("wechat")
# A message whose timestamp is further than this from now is refused: a captured request
# replayed later is not answered again.
MAX_SKEW = 300
# A passive text reply is at most 2048 bytes; Chinese is three bytes a character in UTF-8.
MAX_REPLY = 600


def _verify() -> str:
    """The token, when the query's signature is WeChat's; 403 otherwise."""
    token = current_app.config["WECHAT_TOKEN"]
    if not token:
        log.warning("WeChat call refused: WECHAT_TOKEN is not configured")
        abort(403)
    from wechatpy.exceptions import InvalidSignatureException
    from wechatpy.utils import check_signature

    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    try:
        check_signature(token, args.get("signature", ""), timestamp, nonce)
    except InvalidSignatureException:
        log.warning("WeChat call refused: bad signature from %s", request.remote_addr)
        abort(403)
    if not timestamp.isdigit() or abs(clock.now().timestamp() - int(timestamp)) > MAX_SKEW:
        log.warning("WeChat call refused: timestamp %r too far from now", timestamp[:20])
        abort(403)
    return token


@bp.route("/wechat", methods=["GET"])
@csrf.exempt
def wechat_check():
    """The server URL check when it is set up in the Official Account's settings."""
    _verify()
    return Response(request.args.get("echostr", "")[:100], mimetype="text/plain")


def _crypto(token: str):
    """wechatpy's cipher for safe mode (imported here: a server without WeChat never loads
    it, nor requests and urllib3 with it)."""
    from wechatpy.crypto import WeChatCrypto

    key, app_id = current_app.config["WECHAT_AES_KEY"], current_app.config["WECHAT_APP_ID"]
    if not key or not app_id:
        log.warning("WeChat safe-mode message refused: WECHAT_AES_KEY or WECHAT_APP_ID unset")
        abort(403)
    return WeChatCrypto(token, key, app_id)


@bp.route("/wechat", methods=["POST"])
@csrf.exempt
def wechat_inbound():
    from wechatpy import parse_message
    from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
    from wechatpy.replies import TextReply

    token = _verify()
    args = request.args
    encrypted = args.get("encrypt_type", "raw") == "aes"
    if not encrypted and current_app.config["WECHAT_AES_KEY"]:
        # In plain mode WeChat signs only the query, not the message: with a key set (safe
        # mode) a plain message could be anyone's, replaying a signed address.
        log.warning("WeChat plain message refused: safe mode is configured")
        abort(403)
    body = request.get_data(cache=False)[:20_000]
    if encrypted:
        try:
            body = _crypto(token).decrypt_message(
                body, args.get("msg_signature", ""), args["timestamp"], args["nonce"]
            )
        except (
            InvalidSignatureException,
            InvalidAppIdException,
            ValueError,
            KeyError,
            IndexError,
            struct.error,  # another key's plaintext can end in a padding that leaves no length
            UnicodeDecodeError,
        ):
            log.warning("WeChat message refused: it does not decrypt with our key")
            abort(403)
    try:
        message = parse_message(body)
    except Exception:  # noqa: BLE001 (wechatpy raises what xmltodict and its fields raise)
        abort(400)
    if message is None:
        abort(400)
    reply = _reply_once(message)
    if not reply:
        return Response("success", mimetype="text/plain")  # nothing to say: WeChat's word
    xml = TextReply(message=message, content=reply[:MAX_REPLY]).render()
    if encrypted:
        xml = _crypto(token).encrypt_message(xml, args["nonce"], str(int(clock.now().timestamp())))
    return Response(xml, mimetype="application/xml")


def _reply_once(message) -> str:
    """The reply to a message, worked out once per MsgId (an event: per sender and time)."""
    now = clock.now()
    openid = str(message.source)[:64]
    external_id = str(getattr(message, "id", None) or f"{openid}:{message.create_time}")[:64]
    text = (getattr(message, "content", "") or "")[:500]
    seen = insert_unless_taken(
        InboundMessage,
        dict(
            channel="wechat",
            external_id=external_id,
            sender=openid,
            text=text,
            received_at=now,
        ),
    )
    if seen is None:  # WeChat asked again: the same answer, nothing done twice
        first = db.session.scalar(
            sa.select(InboundMessage.reply).where(
                InboundMessage.channel == "wechat", InboundMessage.external_id == external_id
            )
        )
        return first or ""
    link = linking.link_for("wechat", openid, openid, now)
    person = linking.person_of(link)
    with force_locale(person.locale if person else "zh"):
        reply = _answer(link, person, message, text, now)
    seen.person_id = link.person_id
    seen.reply = reply[:2000]
    db.session.flush()
    return reply


def _answer(link, person, message, text: str, now) -> str:
    if message.type == "event":
        if message.event in ("subscribe", "subscribe_scan"):
            return _welcome(person)
        return ""  # unsubscribe, menu clicks, location reports: nothing to answer
    if message.type != "text":
        return _("Linli reads text: send 帮助 for the commands.")
    if person is None:
        return _unlinked(link, text, now)
    return commands.respond(person, text, now=now, sender=WECHAT).text


def _welcome(person) -> str:
    if person is not None:
        return _("Welcome back, %(name)s. Send 帮助 for the commands.", name=person.name)
    return _(
        "Welcome to Linli. To link your account, send 绑定 and your phone number "
        "(e.g. 绑定 13800138000), then the 6-digit code texted to that phone."
    )


def _unlinked(link, text: str, now) -> str:
    """Not linked yet: 绑定 phone texts a code; the 6 digits sent back link the account."""
    command = parse(text)
    try:
        if command.name == "link" and digits(command.argument):
            linking.ask_code(link, command.argument, now=now, locale="zh")
            return _("A code was texted to that phone. Send the 6 digits here.")
        code = digits(command.argument or command.name)
        if link.pending_phone and len(code) == 6:
            person = linking.with_code(link, code, now=now)
            if person is None:
                return commands.respond(None, "", now=now, sender=WECHAT).text
            with force_locale(person.locale):
                return _("Linked to %(name)s. Text 帮助 (HELP) for the commands.", name=person.name)
    except LinliError as exc:
        return str(exc)
    return _welcome(None)
