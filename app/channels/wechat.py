"""Sending over the WeChat Official Account: customer-service messages (客服消息).

POST {WECHAT_API_URL}/cgi-bin/message/custom/send?access_token=… with
{"touser": openid, "msgtype": "text", "text": {"content": …}}; the answer is
{"errcode": 0, "errmsg": "ok"} or an error code. The access token comes from
POST /cgi-bin/stable_token ({"grant_type": "client_credential", "appid", "secret"}), the
endpoint WeChat made for several servers sharing one account: it hands every worker and
every app server the same token while it is valid, and a fetch does not end the token the
others hold (the older /cgi-bin/token does, so workers fetching it in turn would keep
invalidating each other). Each process keeps the token until five minutes before it
expires, or until WeChat says it is no longer valid (40001, 40014, 42001): then it fetches
again and sends once more.

wechatpy's client is not used here: its token URL is fixed to api.weixin.qq.com (no fake
server, no egress proxy), it fetches /cgi-bin/token, and it sends with requests rather than
the outbox's shared keep-alive pool. Its crypto and XML are used for the inbound side
(app/chat/wechat.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time

from app.channels.sms import SendFailed, post

log = logging.getLogger(__name__)

TOKEN_INVALID = frozenset({40001, 40014, 42001})
# Busy, or a rate limit: later may work.
TRY_LATER = frozenset({-1, 45009, 45047})
# The AppID, the AppSecret or this server's address (not on the account's IP allowlist).
BAD_SETUP = frozenset({40013, 40125, 40164, 41002, 41004})


class WeChatApi:
    def __init__(self, app_id: str, secret: str, base_url: str, timeout: float = 10):
        self.app_id, self.secret = app_id, secret
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self._token: str | None = None
        self._good_until = 0.0
        self._lock = threading.Lock()

    def _post(self, path: str, payload: dict) -> dict:
        answer = post(
            f"{self.base}{path}",
            json.dumps(payload, ensure_ascii=False).encode(),
            {"Content-Type": "application/json; charset=utf-8"},
            self.timeout,
            "WeChat",
        )
        if answer.status >= 400:
            raise answer.refused(f"WeChat HTTP {answer.status}")
        return answer.body

    def token(self, *, not_this: str | None = None) -> str:
        """The account's access token, fetched when this process has none, it is about to
        expire, or WeChat refused `not_this`."""
        with self._lock:
            fresh = self._token and self._token != not_this
            if fresh and time.monotonic() < self._good_until:
                return self._token  # type: ignore[return-value]
            body = self._post(
                "/cgi-bin/stable_token",
                {"grant_type": "client_credential", "appid": self.app_id, "secret": self.secret},
            )
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                code = body.get("errcode")
                raise SendFailed(
                    f"WeChat gave no access token: {code} {body.get('errmsg', '')}",
                    permanent=code in BAD_SETUP,
                )
            given = body.get("expires_in")
            lifetime = given if isinstance(given, int) else 7200
            self._token, self._good_until = token, time.monotonic() + max(lifetime - 300, 60)
            return token

    def send_text(self, openid: str, content: str) -> str:
        refused = None
        for _attempt in range(2):
            token = self.token(not_this=refused)
            body = self._post(
                f"/cgi-bin/message/custom/send?access_token={token}",
                {"touser": openid, "msgtype": "text", "text": {"content": content}},
            )
            code = body.get("errcode", 0)
            if code == 0:
                return str(body.get("msgid", ""))
            if code in TOKEN_INVALID:
                refused = token
                continue
            raise SendFailed(
                f"WeChat refused: {code} {body.get('errmsg', '')}",
                permanent=code not in TRY_LATER,
            )
        raise SendFailed("WeChat refused a fresh access token", permanent=False)


class WeChatSender:
    """The outbox's sender for the wechat channel (recipient: the follower's OpenID).

    WeChat lets an account write to a follower for 48 hours after the follower last wrote
    to it (45015 outside that window): such a message fails for good, and the resident
    still has SMS."""

    delivers = True

    def __init__(self, api: WeChatApi):
        self.api = api

    def send(self, openid: str, body: str) -> str:
        return self.api.send_text(openid, body[:600])


class LogWeChatSender:
    """Demo mode without an account: the message goes to the log and the outbox page."""

    delivers = False

    def send(self, openid: str, body: str) -> str:
        log.info("WeChat to %s (not sent, demo mode): %s characters", openid, len(body))
        return "log"


def sender_from_config(config):
    if config.get("WECHAT_APP_ID") and config.get("WECHAT_APP_SECRET"):
        return WeChatSender(
            WeChatApi(
                config["WECHAT_APP_ID"],
                config["WECHAT_APP_SECRET"],
                config["WECHAT_API_URL"],
                config["SEND_TIMEOUT"],
            )
        )
    if config.get("DEMO_MODE"):
        return LogWeChatSender()
    return None
