"""The Telegram Bot API over HTTP: sending messages and registering the webhook.

POST {TELEGRAM_API_URL}/bot{token}/{method} with a JSON body; the answer is
{"ok": true, "result": …} or {"ok": false, "error_code": …, "description": …}
(429 carries parameters.retry_after). Senders raise `SendFailed` like the SMS ones.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from app.channels.sms import SendFailed

log = logging.getLogger(__name__)


class BotApi:
    def __init__(self, token: str, base_url: str = "https://api.telegram.org", timeout: float = 10):
        self.base = f"{base_url.rstrip('/')}/bot{token}"
        self.timeout = timeout

    def call(self, method: str, payload: dict) -> dict:
        request = urllib.request.Request(  # noqa: S310  (the URL is configuration)
            f"{self.base}/{method}",
            data=json.dumps(payload, ensure_ascii=False).encode(),
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                body = {}
            retry = exc.code == 429 or exc.code >= 500
            detail = body.get("description") or exc.reason
            raise SendFailed(f"Telegram {exc.code}: {detail}", permanent=not retry) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SendFailed(f"Telegram unreachable: {exc}", permanent=False) from None
        except ValueError:
            raise SendFailed("Telegram answered with invalid JSON", permanent=False) from None
        if not answer.get("ok"):
            raise SendFailed(f"Telegram refused: {answer.get('description', '')}", permanent=True)
        return answer.get("result") or {}


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
