"""Delivering the outbox: claim due messages, send them with no transaction open, record
the results.

This is an edge, like the CLI: it commits (through `app.database`) between the steps, so
a slow gateway never holds a database lock, and a crash after sending leaves the claim to
expire and the message to be tried again (delivery is at least once).

A batch is claimed in one statement and sent by a small pool of threads (LINLI_OUTBOX_THREADS)
over the senders' shared keep-alive connections: a gateway answering in 100 ms is no longer
a limit of ten messages a second. Only this thread touches the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from app.channels import outbox, telegram, wechat
from app.channels.sms import SendFailed, SmsSender, sender_from_config
from app.core.database import commit_unit_of_work

log = logging.getLogger(__name__)


@dataclass
class Report:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


MAKERS = {
    "sms": sender_from_config,
    "telegram": telegram.sender_from_config,
    "wechat": wechat.sender_from_config,
}


def configured_sender(channel: str = "sms") -> SmsSender | None:
    """The sender for a channel (made once per app): sms, telegram or wechat."""
    key = f"linli_{channel}_sender"
    if key not in current_app.extensions:
        current_app.extensions[key] = MAKERS[channel](current_app.config)
    return current_app.extensions[key]


@dataclass
class _Job:
    message_id: int
    sender: SmsSender | None
    recipient: str
    body: str
    channel: str


def _send(job: _Job) -> str | SendFailed:
    """One message over the network, in a sending thread: the gateway's id, or why not."""
    if job.sender is None:
        return SendFailed(f"no {job.channel} sender configured", permanent=True)
    try:
        return job.sender.send(job.recipient, job.body) or ""
    except SendFailed as exc:
        return exc


def deliver(message_ids: Iterable[int], clock: Callable[[], datetime]) -> Report:
    """Send the given messages if they are still due (another sender may have them)."""
    claimed = outbox.claim(list(message_ids), clock())
    jobs = [
        _Job(m.id, configured_sender(m.channel), m.recipient, m.body, m.channel) for m in claimed
    ]
    commit_unit_of_work()
    report = Report(claimed=len(jobs))
    if not jobs:
        return report
    threads = min(len(jobs), current_app.config.get("OUTBOX_THREADS", 8))
    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="outbox") as pool:
            outcomes = list(pool.map(_send, jobs))
    else:
        outcomes = [_send(job) for job in jobs]
    by_id = {m.id: m for m in outbox.reload([job.message_id for job in jobs])}
    for job, outcome in zip(jobs, outcomes, strict=True):
        message = by_id[job.message_id]
        if isinstance(outcome, SendFailed):
            log.warning("message #%s not sent: %s", message.id, outcome)
            outbox.record_failure(
                message,
                clock(),
                str(outcome),
                permanent=outcome.permanent,
                retry_after=outcome.retry_after,
            )
            if message.status == "failed":
                report.failed += 1
                # A chat that cannot be reached (a WeChat follower silent for 48 hours, a
                # bot blocked on Telegram): the resident still has their phone.
                outbox.fall_back_to_sms(message, clock())
            else:
                report.retrying += 1
        else:
            assert job.sender is not None  # a missing sender is a SendFailed
            outbox.record_sent(
                message, clock(), shown_only=not job.sender.delivers, provider_id=outcome
            )
            report.sent += 1
    commit_unit_of_work()
    return report


def deliver_due(clock: Callable[[], datetime], limit: int = 100) -> Report:
    return deliver(outbox.due_ids(clock(), limit), clock)
