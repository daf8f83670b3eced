"""/metrics for Prometheus: the counters of app/core/metrics.py and, read at each scrape,
what the database says about the outbox (what waits, for how long, what gave up).

Guarded: a scraper sends `Authorization: Bearer $LINLI_METRICS_TOKEN`. Without a token
the demo answers only to this machine, and production not at all (404), so that counts of
sign-in failures never reach the public.
"""

from __future__ import annotations

import hmac
import os

import sqlalchemy as sa
from flask import abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from app.core import clock
from app.core.extensions import db, limiter
from app.models import OutboxMessage
from app.ops import bp

LOOPBACK = ("127.0.0.1", "::1")


@bp.get("/metrics")
@limiter.exempt
def metrics():
    _guard()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Under gunicorn: every worker's files, added together.
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    outbox = CollectorRegistry()
    outbox.register(OutboxCollector())
    body = generate_latest(counted) + generate_latest(outbox)
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}


def _guard() -> None:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            abort(401)
        return
    if not (current_app.config["DEMO_MODE"] and request.remote_addr in LOOPBACK):
        abort(404)


class OutboxCollector:
    """The outbox as the database holds it now, by channel: one grouped read of the rows
    still pending or given up (the status index; delivered rows are not read)."""

    def collect(self):
        pending = GaugeMetricFamily(
            "linli_outbox_pending", "Messages waiting to be sent, by channel.", labels=["channel"]
        )
        retrying = GaugeMetricFamily(
            "linli_outbox_retrying",
            "Pending messages that failed at least once and wait to be tried again.",
            labels=["channel"],
        )
        oldest = GaugeMetricFamily(
            "linli_outbox_oldest_pending_seconds",
            "Age of the oldest message waiting, by channel.",
            labels=["channel"],
        )
        failed = GaugeMetricFamily(
            "linli_outbox_failed",
            "Messages given up on (kept for a look), by channel.",
            labels=["channel"],
        )
        now = clock.now()
        rows = db.session.execute(
            sa.select(
                OutboxMessage.channel,
                OutboxMessage.status,
                sa.func.count(),
                # A failed try leaves its error (a claim in flight has counted an attempt too).
                sa.func.count().filter(OutboxMessage.last_error != ""),
                sa.func.min(OutboxMessage.created_at),
            )
            .where(OutboxMessage.status.in_(("pending", "failed")))
            .group_by(OutboxMessage.channel, OutboxMessage.status)
        )
        for channel, status, count, tried, first in rows:
            if status == "failed":
                failed.add_metric([channel], count)
                continue
            pending.add_metric([channel], count)
            retrying.add_metric([channel], tried)
            oldest.add_metric([channel], max(0.0, (now - first).total_seconds()))
        yield from (pending, retrying, oldest, failed)
