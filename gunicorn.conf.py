"""Gunicorn's settings for Linli: `gunicorn -c gunicorn.conf.py wsgi:app` (README, Deploying).

Each may be set from the environment without editing this file: LINLI_BIND, LINLI_WORKERS,
LINLI_WORKER_TIMEOUT.
"""

import gc
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("LINLI_BIND", "127.0.0.1:8000")
# Sync workers, each busy with one request at a time: two per core kept this 2-core
# machine's cores full in bench/ (the database and Redis take the rest).
workers = int(os.environ.get("LINLI_WORKERS", 2 * multiprocessing.cpu_count()))
# The app is imported once, in the master, before the workers fork: a worker that dies is
# replaced in milliseconds instead of re-importing everything (seconds under load).
preload_app = os.environ.get("LINLI_PRELOAD", "1") != "0"  # 0 only to measure without
# A request that has not answered in this long is stuck: the worker is replaced. Well above
# the database's own wait for a lock (SQLite's busy timeout), so that error is answered.
timeout = int(os.environ.get("LINLI_WORKER_TIMEOUT", 60))
# On SIGTERM (a deploy, systemd stop) a worker finishes the request in hand first.
graceful_timeout = 30
# Behind nginx, which keeps connections open to us.
keepalive = 5
# Workers start afresh now and then (memory that Python never gives back), not all at once.
max_requests = 10_000
max_requests_jitter = 1_000
# The heartbeat file on tmpfs: a slow disk never looks like a stuck worker.
SHARED_MEMORY = "/dev/shm"  # noqa: S108 (gunicorn's documented choice; a file per worker)
worker_tmp_dir = SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else None
# One line a request on stdout, with the request id Linli answers with (X-Request-ID) to
# find the same request in the app's own log; the client address as the proxy gave it.
accesslog = "-"
access_log_format = (
    '%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'
)

# Prometheus counters from every worker, added up at each scrape of /metrics: each worker
# writes its own files in one folder (on tmpfs), which must exist before the app (and with it
# prometheus_client) is imported, and start empty. An operator's PROMETHEUS_MULTIPROC_DIR is
# used as given (emptied at start); otherwise a folder of our own, removed at exit.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="linli-metrics-", dir=worker_tmp_dir
    )
METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def when_ready(server):
    """In the master, before the first worker is forked: the libraries the app imports only
    where it uses them (charts, QR codes, the gateways' HTTP client, Alembic's reader of
    the migrations for /readyz), so that every worker shares them instead of importing its
    own at its first such request."""
    if preload_app:
        import alembic.script  # noqa: F401
        import pygal  # noqa: F401
        import qrcode.image.svg  # noqa: F401
        import urllib3  # noqa: F401

        # These too, with the app frozen in wsgi.py: no worker's collection scans them (or
        # writes to their pages, which would make each worker copy them).
        gc.freeze()


def on_starting(server):
    os.makedirs(METRICS_DIR, exist_ok=True)
    for name in os.listdir(METRICS_DIR):
        os.remove(os.path.join(METRICS_DIR, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
