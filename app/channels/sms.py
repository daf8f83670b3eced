"""Sending text messages: the `SmsSender` interface and its two implementations.

- `LogSmsSender` (demo mode): writes the message to the log; the dev outbox page shows it.
- `TwilioSmsSender`: an HTTP gateway speaking Twilio's Messages API (also offered by many
  Chinese and international gateways as a compatible endpoint):
  POST {SMS_GATEWAY_URL}/2010-04-01/Accounts/{SMS_ACCOUNT_SID}/Messages.json with form
  fields To, From, Body and HTTP basic auth (account SID : auth token); 201 with a JSON
  body holding the message `sid`, or a 4xx/5xx JSON error `{"code", "message"}`.

Senders raise `SendFailed`; `permanent` says whether trying again could help, and
`retry_after` how many seconds the gateway asked us to wait (429 with Retry-After).

Every sender of a process shares one pool of keep-alive connections (`http_pool`), safe to
use from the outbox worker's sending threads: a message costs one request on a connection
already open, not a new TCP and TLS handshake.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import urllib3

log = logging.getLogger(__name__)
# Connections kept open per gateway host: one per sending thread (LINLI_OUTBOX_THREADS).
POOL_SIZE = 16
_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()


def http_pool() -> urllib3.PoolManager:
    """The process's keep-alive connection pool (made at first use: after gunicorn forks)."""
    global _pool
    import urllib3  # where used: a command that sends nothing never loads it

    with _pool_lock:
        if _pool is None:
            _pool = urllib3.PoolManager(num_pools=8, maxsize=POOL_SIZE, retries=False)
        return _pool


class SendFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool, retry_after: int | None = None):
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    """What a gateway said: its status, its JSON body, and the seconds a 429's Retry-After
    header asked us to wait."""

    status: int
    body: dict
    retry_after: int | None = None

    def refused(self, reason: str, retry_after: int | None = None) -> SendFailed:
        """The failure this answer is: 429 and 5xx are the gateway's trouble, worth another
        try (after `retry_after`, the body's own, else the header's); other 4xx are ours."""
        return SendFailed(
            reason,
            permanent=not (self.status == 429 or self.status >= 500),
            retry_after=retry_after if retry_after is not None else self.retry_after,
        )


def post(url: str, body: bytes, headers: dict, timeout: float, what: str) -> Answer:
    """POST on the shared pool. Raises SendFailed when nothing usable came back
    (unreachable, timed out, not JSON)."""
    import urllib3

    try:
        response = http_pool().request(
            "POST", url, body=body, headers=headers, timeout=urllib3.Timeout(total=timeout)
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise SendFailed(f"{what} unreachable: {exc}", permanent=False) from None
    try:
        answer = json.loads(response.data or b"{}")
    except ValueError:
        if response.status >= 400:
            answer = {}
        else:
            raise SendFailed(f"{what} answered with invalid JSON", permanent=False) from None
    if not isinstance(answer, dict):
        raise SendFailed(f"{what} answered with invalid JSON", permanent=False)
    wait = _seconds(response.headers.get("Retry-After")) if response.status == 429 else None
    return Answer(response.status, answer, wait)


def _seconds(value: str | None) -> int | None:
    """A Retry-After header given in seconds (the HTTP-date form is not used by gateways)."""
    if value and value.strip().isdigit():
        return min(int(value), 24 * 3600)
    return None


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
        headers = {
            "Authorization": self.authorization,
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Accept": "application/json",
        }
        answer = post(self.url, data, headers, self.timeout, "gateway")
        if answer.status >= 400:
            detail = f"{answer.body.get('code', '')} {answer.body.get('message', '')}".strip()
            raise answer.refused(f"HTTP {answer.status}: {detail}")
        sid = answer.body.get("sid")
        if not sid:
            raise SendFailed("gateway answered without a message sid", permanent=False)
        return str(sid)


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
