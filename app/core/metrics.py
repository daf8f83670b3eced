"""What the server counts for Prometheus (scraped at /metrics, app/ops/metrics.py).

Counters live in this process; under gunicorn every worker writes its own files in
PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets one up) and a scrape adds them together, so
the figures are the server's, whichever worker answers. The environment variable must be
set before prometheus_client is first imported, which is why gunicorn.conf.py sets it.

What is counted is an event that happened: a posting or a check-in once it is committed
(`count_after_commit`), a refusal or a lock-out when it is answered. Labels are names the
code chooses (an endpoint, a ledger kind, an error's class), never what a person typed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Histogram

from app.core.database import after_commit
from app.core.errors import LinliError

P = ParamSpec("P")
R = TypeVar("R")

HTTP_REQUESTS = Counter(
    "linli_http_requests",
    "Requests answered, by endpoint, method and status.",
    ["endpoint", "method", "status"],
)
HTTP_DURATION = Histogram(
    "linli_http_request_duration_seconds",
    "Time from a request's start to its answer, by endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LEDGER_POSTINGS = Counter(
    "linli_ledger_postings", "Ledger transactions committed, by kind.", ["kind"]
)
REDEMPTIONS = Counter("linli_redemptions", "Redemptions committed.")
REDEMPTION_REFUSALS = Counter(
    "linli_redemption_refusals",
    "Redemptions refused (a code or an offer), by reason.",
    ["reason"],
)
CHECKINS = Counter("linli_checkins", "Check-ins and check-outs committed.", ["kind"])
SIGNIN_FAILURES = Counter(
    "linli_signin_failures",
    "Sign-ins refused for a wrong secret, by method (password, sms_code).",
    ["method"],
)
LOCKOUTS = Counter(
    "linli_lockouts",
    "Pauses started by too many wrong guesses, by what was limited.",
    ["limit"],
)


def count_after_commit(counter, *labels: str) -> None:
    """Count one event once the unit of work that made it has committed."""
    child = counter.labels(*labels) if labels else counter
    after_commit(child.inc)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def reason_of(error: Exception) -> str:
    """A refusal's label: its error class in snake case (InsufficientPoints →
    insufficient_points), a name the code chose, so the set of labels stays small."""
    return _CAMEL.sub("_", type(error).__name__).lower()


def counts_refusals(counter: Counter) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Count each domain error the service raises, by `reason_of`, and raise it on."""

    def decorator(service: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(service)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return service(*args, **kwargs)
            except LinliError as exc:
                counter.labels(reason_of(exc)).inc()
                raise

        return wrapper

    return decorator
