"""The WeChat Official Account channel (issue 20), spoken to as WeChat's servers speak: the
signed server URL check, text messages and events in XML, plain and in safe mode (AES), a
passive reply, each MsgId once, linking by 绑定 and a texted code.

Safe mode is built here from WeChat's published algorithm with `cryptography` alone (not
with wechatpy, which the server uses), so the two sides are written independently:
AES-256-CBC, the key the EncodingAESKey decoded, the IV its first 16 bytes, the plaintext
16 random bytes + the message's length (4 bytes, big-endian) + the message + the AppID,
padded PKCS#7 to 32 bytes; msg_signature the SHA-1 of the sorted token, timestamp, nonce
and ciphertext."""

import base64
import hashlib
import os
import re
import struct
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.models import ChatLink, InboundMessage, OutboxMessage

SAMPLES = Path(__file__).parent / "samples"
TOKEN = "linli-wechat-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat makes them
APP_ID = "wx5823bf96d3bd56c7"
OPENID = "oLinli_elder_0001"


@pytest.fixture
def wechat(app):
    app.config.update(WECHAT_TOKEN=TOKEN, WECHAT_AES_KEY=AES_KEY, WECHAT_APP_ID=APP_ID)
    yield
    app.config.update(WECHAT_TOKEN=None, WECHAT_AES_KEY=None, WECHAT_APP_ID=None)


def sha1(*parts: str) -> str:
    # WeChat's signature is SHA-1; it is WeChat's choice, not ours.
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324


def _key() -> bytes:
    return base64.b64decode(AES_KEY + "=")


def encrypt(xml: str) -> str:
    message = xml.encode()
    plain = os.urandom(16) + struct.pack(">I", len(message)) + message + APP_ID.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(_key()), modes.CBC(_key()[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(encrypted: str) -> str:
    decryptor = Cipher(algorithms.AES(_key()), modes.CBC(_key()[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    assert plain[20 + length :].decode() == APP_ID
    return plain[20 : 20 + length].decode()


_ids = iter(range(10**6))


def message(kind: str = "text", content: str = "积分", msg_id: str | None = None) -> str:
    xml = (SAMPLES / f"wechat_{kind}.xml").read_text()
    xml = xml.replace("<![CDATA[积分]]>", f"<![CDATA[{content}]]>")
    return re.sub(
        r"<MsgId>\d+</MsgId>", f"<MsgId>{msg_id or 24310566017800000 + next(_ids)}</MsgId>", xml
    )


def post(
    client,
    app_clock,
    xml: str,
    *,
    safe: bool = False,
    token: str = TOKEN,
    skew: int = 0,
    encrypted: str | None = None,
):
    timestamp, nonce = str(int(app_clock().timestamp()) + skew), "1320562132"
    query = {"signature": sha1(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    query["openid"] = OPENID
    if safe:
        encrypted = encrypted or encrypt(xml)
        query |= {"encrypt_type": "aes", "msg_signature": sha1(token, timestamp, nonce, encrypted)}
        xml = (
            "<xml><ToUserName><![CDATA[gh_3f2a1b9c8d7e]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
    return client.post(
        "/chat/wechat", query_string=query, data=xml.encode(), content_type="text/xml"
    )


def reply_of(response, *, safe: bool = False) -> str:
    assert response.status_code == 200, response.text
    xml = response.text
    if safe:
        encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", xml).group(1)
        timestamp = re.search(r"<TimeStamp>(\d+)</TimeStamp>", xml).group(1)
        nonce = re.search(r"<Nonce><!\[CDATA\[(.*?)\]\]></Nonce>", xml).group(1)
        signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", xml).group(1)
        assert signature == sha1(TOKEN, timestamp, nonce, encrypted)  # we sign our answer too
        xml = decrypt(encrypted)
    assert f"<ToUserName><![CDATA[{OPENID}]]></ToUserName>" in xml
    assert "<FromUserName><![CDATA[gh_3f2a1b9c8d7e]]></FromUserName>" in xml
    assert "<MsgType><![CDATA[text]]></MsgType>" in xml
    return re.search(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", xml, re.S).group(1)


def test_the_server_url_check_answers_echostr_only_when_signed(client, db, app_clock, wechat):
    timestamp, nonce = str(int(app_clock().timestamp())), "77"
    query = {"signature": sha1(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    answer = client.get("/chat/wechat", query_string={**query, "echostr": "5837397520613"})
    assert (answer.status_code, answer.text) == (200, "5837397520613")
    forged = {**query, "signature": sha1("guessed", timestamp, nonce), "echostr": "1"}
    assert client.get("/chat/wechat", query_string=forged).status_code == 403
    assert client.get("/chat/wechat", query_string={"echostr": "1"}).status_code == 403


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe-mode"])
def test_an_elder_links_the_account_and_asks_for_points(
    app, client, db, app_clock, wechat, make_volunteer, safe
):
    if not safe:
        app.config["WECHAT_AES_KEY"] = None  # plain mode (明文模式): no key configured
    make_volunteer(name="王秀英", phone="+8613800138000", points=40)
    welcome = reply_of(post(client, app_clock, message("subscribe"), safe=safe), safe=safe)
    assert "绑定 13800138000" in welcome
    asked = reply_of(
        post(client, app_clock, message(content="绑定 13800138000"), safe=safe), safe=safe
    )
    assert "验证码已发送" in asked
    code = re.search(
        r"\b\d{6}\b",
        db.session.scalars(
            sa.select(OutboxMessage)
            .filter_by(kind="sign_in_code")
            .order_by(OutboxMessage.id.desc())
        )
        .first()
        .body,
    ).group()
    linked = reply_of(post(client, app_clock, message(content=code), safe=safe), safe=safe)
    assert "王秀英" in linked
    link = db.session.scalars(sa.select(ChatLink).filter_by(channel="wechat")).one()
    assert link.external_id == OPENID and link.person_id is not None
    balance = reply_of(post(client, app_clock, message(content="积分"), safe=safe), safe=safe)
    assert "可用积分 40" in balance
    english = reply_of(post(client, app_clock, message(content="BAL"), safe=safe), safe=safe)
    assert "40 points to spend" in english


def test_each_msgid_is_handled_once_and_answered_the_same(
    app, client, db, app_clock, wechat, make_volunteer
):
    app.config["WECHAT_AES_KEY"] = None  # plain mode
    make_volunteer(name="王秀英", phone="+8613800138000")
    xml = message(content="绑定 13800138000", msg_id="24310566017829321")
    first = reply_of(post(client, app_clock, xml))
    again = reply_of(post(client, app_clock, xml))  # WeChat had no answer within 5 s
    assert first == again
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1
    codes = db.session.scalars(sa.select(OutboxMessage).filter_by(kind="sign_in_code")).all()
    assert len(codes) == 1  # one code texted, not two


def test_forged_stale_or_undecryptable_messages_are_refused_and_nothing_is_read(
    client, db, app, app_clock, wechat
):
    assert post(client, app_clock, message(), token="guessed").status_code == 403
    assert post(client, app_clock, message(), safe=True, skew=-3600).status_code == 403
    # With safe mode configured, a plain message is refused: WeChat signs only the query
    # of a plain one, so its body (whose FromUserName says who wrote) could be anyone's.
    assert post(client, app_clock, message()).status_code == 403
    response = post(client, app_clock, message(), safe=True)
    assert response.status_code == 200
    app.config["WECHAT_AES_KEY"] = "Z" * 43  # not the key WeChat encrypted with
    assert post(client, app_clock, message(), safe=True).status_code == 403
    app.config.update(WECHAT_TOKEN=None, WECHAT_AES_KEY=None)  # nothing is accepted
    assert post(client, app_clock, message()).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1


def test_pictures_and_other_events_get_a_word_or_nothing(client, db, app_clock, wechat):
    picture = reply_of(post(client, app_clock, message("image"), safe=True), safe=True)
    assert "帮助" in picture
    click = message("subscribe").replace("subscribe", "CLICK")
    answer = post(client, app_clock, click, safe=True)
    assert (answer.status_code, answer.text) == (200, "success")


def test_a_message_read_with_another_key_is_refused_even_when_it_reads_as_empty(
    client, db, app, app_clock, wechat
):
    """Decrypted with the wrong key, a message is random bytes; when their last byte (the
    padding's length) is 0 nothing is left to read a length from. That is a 403 too, not a
    500: a key is searched for that does exactly this to this message."""
    encrypted = encrypt(message())
    raw = base64.b64decode(encrypted)
    for n in range(5000):
        wrong = base64.b64encode(hashlib.sha256(f"wrong-{n}".encode()).digest()).decode()[:43]
        key = base64.b64decode(wrong + "=")
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        if (decryptor.update(raw) + decryptor.finalize())[-1] == 0:
            break
    else:
        pytest.fail("no key found that leaves the padding 0")
    app.config["WECHAT_AES_KEY"] = wrong
    assert post(client, app_clock, "", safe=True, encrypted=encrypted).status_code == 403
