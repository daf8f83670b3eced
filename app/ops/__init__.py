"""What operators and their tools ask of a running server: is it alive, can it serve.

`/healthz` answers as long as the process does (for a supervisor that restarts it);
`/readyz` says whether it can serve now: the database answers and its schema is at the
migrations' head, and Redis answers when it is configured (for a load balancer, which
sends requests elsewhere meanwhile). Small JSON, 200 or 503; never rate-limited, never
logged at info, never cached.
"""

from flask import Blueprint

bp = Blueprint("ops", __name__)

from app.ops import health, metrics  # noqa: E402,F401  (the routes)
