"""Delivering the outbox: claim a message, send it with no transaction open, record the result.

This is an edge, like the CLI: it commits (through `app.database`) between the steps, so
a slow gateway never holds a database lock, and a crash after sending leaves the claim to
expire and the message to be tried again (delivery is at least once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from app.channels import outbox, telegram
from app.channels.sms import SendFailed, SmsSender, sender_from_config
from app.core.database import commit_unit_of_work

log = logging.getLogger(__name__)


@dataclass
class Report:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def configured_sender(channel: str = "sms") -> SmsSender | None:
    """The sender for a channel (made once per app): sms or telegram."""
    key = f"linli_{channel}_sender"
    if key not in current_app.extensions:
        make = telegram.sender_from_config if channel == "telegram" else sender_from_config
        current_app.extensions[key] = make(current_app.config)
    return current_app.extensions[key]


def deliver(message_ids: Iterable[int], clock: Callable[[], datetime]) -> Report:
    """Send the given messages if they are still due (another sender may have them)."""
    report = Report()
    for message_id in message_ids:
        message = outbox.claim(message_id, clock())
        commit_unit_of_work()
        if message is None:
            continue
        sender = configured_sender(message.channel)
        if sender is None:
            outbox.record_failure(
                message, clock(), f"no {message.channel} sender configured", permanent=True
            )
            report.failed += 1
        else:
            try:
                sender.send(message.recipient, message.body)
            except SendFailed as exc:
                log.warning("message #%s not sent: %s", message.id, exc)
                outbox.record_failure(message, clock(), str(exc), permanent=exc.permanent)
                if message.status == "failed":
                    report.failed += 1
                else:
                    report.retrying += 1
            else:
                outbox.record_sent(message, clock(), shown_only=not sender.delivers)
                report.sent += 1
        commit_unit_of_work()
    return report


def deliver_due(clock: Callable[[], datetime], limit: int = 100) -> Report:
    return deliver(outbox.due_ids(clock(), limit), clock)
