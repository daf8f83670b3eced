"""The Telegram Bot API over HTTP: sending messages and registering the webhook.

POST {TELEGRAM_API_URL}/bot{token}/{method} with a JSON body; the answer is
{"ok": true, "result": …} or {"ok": false, "error_code": …, "description": …}
(429 carries parameters.retry_after). Senders raise `SendFailed` like the SMS ones.
"""

from __future__ import annotations

import json
import logging

from app.channels.sms import SendFailed, post

log = logging.getLogger(__name__)


class BotApi:
    def __init__(self, token: str, base_url: str = "https://api.telegram.org", timeout: float = 10):
        self.base = f"{base_url.rstrip('/')}/bot{token}"
        self.timeout = timeout

    def call(self, method: str, payload: dict) -> dict:
        answer = post(
            f"{self.base}/{method}",
            json.dumps(payload, ensure_ascii=False).encode(),
            {"Content-Type": "application/json; charset=utf-8"},
            self.timeout,
            "Telegram",
        )
        body = answer.body
        if answer.status >= 400:
            detail = body.get("description") or f"HTTP {answer.status}"
            # A flood limit says how long to wait (parameters.retry_after, in seconds).
            parameters = body.get("parameters") or {}
            wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise answer.refused(
                f"Telegram {answer.status}: {detail}",
                retry_after=wait if isinstance(wait, int) else None,
            )
        if not body.get("ok"):
            raise SendFailed(f"Telegram refused: {body.get('description', '')}", permanent=True)
        return body.get("result") or {}


class TelegramSender:
    """The outbox's sender for the telegram channel (recipient: the chat id)."""

    delivers = True

    def __init__(self, api: BotApi):
        self.api = api

    def send(self, chat_id: str, body: str) -> str:
        result = self.api.call("sendMessage", {"chat_id": int(chat_id), "text": body[:4096]})
        return str(result.get("message_id", ""))


class LogTelegramSender:
    """Demo mode without a bot: the message goes to the log and the outbox page."""

    delivers = False

    def send(self, chat_id: str, body: str) -> str:
        log.info("Telegram to %s (not sent, demo mode): %s characters", chat_id, len(body))
        return "log"


def sender_from_config(config):
    if config.get("TELEGRAM_BOT_TOKEN"):
        return TelegramSender(
            BotApi(config["TELEGRAM_BOT_TOKEN"], config["TELEGRAM_API_URL"], config["SEND_TIMEOUT"])
        )
    if config.get("DEMO_MODE"):
        return LogTelegramSender()
    return None
