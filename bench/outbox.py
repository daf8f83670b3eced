"""How fast one `flask outbox run` drains the outbox: messages a second delivered to a fake
Twilio-speaking gateway on 127.0.0.1 (tests/fakes/sms_gateway.py, keep-alive HTTP/1.1),
which answers at once or after `latency` seconds a message, as a gateway across the
internet does. One sending thread against the default pool (LINLI_OUTBOX_THREADS=8).

    .venv/bin/python bench/outbox.py [--messages 1000] [--sqlite]

The rate is taken from the first message's arrival to the last (the process's start-up is
not counted). Production mode; PostgreSQL database `linli_outbox` or a SQLite file under
bench/work/. Not a test.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, VENV, fresh_database, production_env  # noqa: E402
from tests.fakes.sms_gateway import FakeSmsGateway  # noqa: E402

QUEUE = """
from datetime import UTC, datetime
import wsgi
from app.channels import outbox
from app.core.database import commit_unit_of_work
with wsgi.app.app_context():
    now = datetime.now(UTC)
    for i in range({count}):
        message = outbox.queue(phone=f"+86139{{i:08d}}", kind="bench", body=f"第{{i}}条", now=now)
        message.next_attempt_at = now  # due now, whatever the hour (no quiet hours here)
    commit_unit_of_work()
"""


def drain(url: str, count: int, latency: float, threads: int) -> float:
    """Messages a second one worker delivered, first arrival to last."""
    env = production_env(url, 8000)
    subprocess.run(  # noqa: S603
        [str(VENV / "flask"), "--app", "wsgi", "init-db"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(  # noqa: S603
        [sys.executable, "-c", QUEUE.format(count=count)], cwd=ROOT, env=env, check=True
    )
    with FakeSmsGateway(latency=latency) as gateway:
        env.update(
            SMS_GATEWAY_URL=gateway.url,
            SMS_ACCOUNT_SID=gateway.account_sid,
            SMS_AUTH_TOKEN=gateway.auth_token,
            SMS_FROM="+8610690000",
            LINLI_OUTBOX_THREADS=str(threads),
        )
        worker = subprocess.Popen(  # noqa: S603
            [str(VENV / "flask"), "--app", "wsgi", "outbox", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        first = last = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            seen = len(gateway.messages)
            if seen and first is None:
                first = time.monotonic()
            if seen >= count:
                last = time.monotonic()
                break
            time.sleep(0.005)
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        if last is None or first is None:
            sys.exit(f"only {len(gateway.messages)} of {count} messages arrived")
        if len(gateway.messages) != count:
            sys.exit(f"{len(gateway.messages)} messages arrived for {count} queued")
    return (count - 1) / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    where = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"one outbox worker, {args.messages} messages, {where}, {os.cpu_count()} cores")
    print(f"{'gateway latency':>16} | {'1 thread':>10} | {'8 threads':>10} | {'16 threads':>10}")
    for latency in (0.0, 0.05, 0.2):
        rates = []
        for threads in (1, 8, 16):
            url = fresh_database(
                sqlite_file="outbox.sqlite3" if args.sqlite else None, pg_name="linli_outbox"
            )
            rates.append(drain(url, args.messages, latency, threads))
        print(f"{latency * 1000:>13.0f} ms | " + " | ".join(f"{rate:>6.1f}/s" for rate in rates))
    print("target: at least 30 SMS/s from one worker (issue 18); before: ~3.4/s")


if __name__ == "__main__":
    main()
