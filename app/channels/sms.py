"""Sending text messages: the `SmsSender` interface and its two implementations.

- `LogSmsSender` (demo mode): writes the message to the log; the dev outbox page shows it.
- `TwilioSmsSender`: an HTTP gateway speaking Twilio's Messages API (also offered by many
  Chinese and international gateways as a compatible endpoint):
  POST {SMS_GATEWAY_URL}/2010-04-01/Accounts/{SMS_ACCOUNT_SID}/Messages.json with form
  fields To, From, Body and HTTP basic auth (account SID : auth token); 201 with a JSON
  body holding the message `sid`, or a 4xx/5xx JSON error `{"code", "message"}`.

Senders raise `SendFailed`; `permanent` says whether trying again could help.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Protocol

log = logging.getLogger(__name__)


class SendFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool):
        super().__init__(reason)
        self.permanent = permanent


class SmsSender(Protocol):
    # False for a sender that only shows messages (demo): nothing reaches a phone.
    delivers: bool

    def send(self, phone: str, body: str) -> str:
        """Send `body` to the E.164 `phone`; return the gateway's message id."""


class LogSmsSender:
    delivers = False

    def __init__(self) -> None:
        self.count = 0

    def send(self, phone: str, body: str) -> str:
        self.count += 1
        # Never the body: it may hold a sign-in code (demo mode shows it on /panel/outbox).
        log.info("SMS to ...%s (not sent, demo mode): %s characters", phone[-4:], len(body))
        return f"log-{self.count}"


class TwilioSmsSender:
    delivers = True

    def __init__(
        self, base_url: str, account_sid: str, auth_token: str, sender: str, timeout: float = 10
    ):
        self.url = (
            f"{base_url.rstrip('/')}/2010-04-01/Accounts/"
            f"{urllib.parse.quote(account_sid, safe='')}/Messages.json"
        )
        credentials = f"{account_sid}:{auth_token}".encode()
        self.authorization = "Basic " + base64.b64encode(credentials).decode()
        self.sender = sender
        self.timeout = timeout

    def send(self, phone: str, body: str) -> str:
        data = urllib.parse.urlencode({"To": phone, "From": self.sender, "Body": body}).encode()
        request = urllib.request.Request(  # noqa: S310  (the URL is configuration, https in production)
            self.url,
            data=data,
            method="POST",
            headers={
                "Authorization": self.authorization,
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            # 429 and 5xx are the gateway's trouble, worth another try; other 4xx are ours.
            retry = exc.code == 429 or exc.code >= 500
            raise SendFailed(f"HTTP {exc.code}: {detail}", permanent=not retry) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SendFailed(f"gateway unreachable: {exc}", permanent=False) from None
        except ValueError:
            raise SendFailed("gateway answered with invalid JSON", permanent=False) from None
        sid = answer.get("sid")
        if not sid:
            raise SendFailed("gateway answered without a message sid", permanent=False)
        return str(sid)


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        return exc.reason or ""
    return f"{body.get('code', '')} {body.get('message', '')}".strip() or str(exc.reason)


def sender_from_config(config) -> SmsSender | None:
    """The configured gateway; the log sender in demo mode; None when nothing can send."""
    if config.get("SMS_GATEWAY_URL"):
        return TwilioSmsSender(
            config["SMS_GATEWAY_URL"],
            config["SMS_ACCOUNT_SID"] or "",
            config["SMS_AUTH_TOKEN"] or "",
            config["SMS_FROM"] or "",
            timeout=config.get("SEND_TIMEOUT", 10),
        )
    if config.get("DEMO_MODE"):
        return LogSmsSender()
    return None
