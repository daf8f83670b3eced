"""The pages a resident opens, at city scale, beside hello world under the same gunicorn.

    .venv/bin/python bench/pages.py [--rounds N] [--seconds S]

On the city `bench/boards.py` builds with `flask bench-seed` (PostgreSQL `linli_city`: a
million residents, two million ledger entries; built here if it is not there yet), Linli
runs as deployed (production mode, gunicorn with 4 workers, --preload, Redis) and wrk
(2 threads, 16 connections) asks in interleaved rounds for: the street's front page signed
out (its figures), a middling resident's home page signed in (balance, this month's
points and rank in their community, the statement, what is coming up), and the boards
page signed in (the street's top 50 and their own rank among a million). Hello world
(`../shared/anchors/web/app.py`) under the same gunicorn is the anchor. Medians, spread
and the ratio to hello world are printed. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from boards import build
from common import (
    ANCHORS,
    ROOT,
    VENV,
    Gunicorn,
    database_url,
    production_env,
    sh,
    wait_for,
    wrk_rate,
)

PORT_LINLI, PORT_ANCHOR = 8730, 8731

# A signed-in session cookie for a resident in the middle of the all-time board (what the
# phone keeps after signing in; Flask-Login's, for wrk's address and no user agent).
COOKIE = """
from flask import session
from flask_login import login_user
import sqlalchemy as sa
from app import create_app
from app.core.extensions import db
from app.models import Account, PeriodTotal, Person
app = create_app()
with app.app_context():
    on_board = db.session.scalar(sa.select(sa.func.count()).select_from(PeriodTotal)
        .where(PeriodTotal.period == "ALL", PeriodTotal.account_kind == "wallet"))
    person = db.session.scalars(
        sa.select(Person).join(Account, sa.and_(Account.owner_id == Person.id,
                                                 Account.kind == "wallet"))
        .join(PeriodTotal, PeriodTotal.account_id == Account.id)
        .where(PeriodTotal.period == "ALL", Person.hide_from_boards.is_(False))
        .order_by(PeriodTotal.amount.desc(), Account.id).offset(on_board // 2).limit(1)).one()
    serializer = app.session_interface.get_signing_serializer(app)
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        login_user(person)
        print(serializer.dumps(dict(session)))
"""


def wrk_page(url: str, seconds: int, cookie: str | None) -> float:
    command = ["wrk", "-t2", "-c16", f"-d{seconds}s", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: session={cookie}"]
    out = subprocess.run(command, check=True, text=True, capture_output=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"{url} failed under load:\n{out}")
    return float(out.split("Requests/sec:")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    url = database_url(sqlite_file=None, pg_name="linli_city")
    build(url, 1_000_000)
    env = production_env(url, PORT_LINLI)
    sh(["redis-cli", "-n", "14", "FLUSHDB"])
    cookie = sh([str(VENV / "python"), "-c", COOKIE], cwd=ROOT, env=env).stdout.split()[-1]
    linli = Gunicorn("wsgi:app", PORT_LINLI, 4, env, ROOT)
    anchor = Gunicorn("app:app", PORT_ANCHOR, 4, dict(os.environ), ANCHORS / "web")
    base = f"http://127.0.0.1:{PORT_LINLI}"
    measures = {
        "hello world (anchor)": lambda: wrk_rate(
            f"http://127.0.0.1:{PORT_ANCHOR}/hello", args.seconds
        ),
        "front page, signed out": lambda: wrk_page(f"{base}/", args.seconds, None),
        "home page, signed in": lambda: wrk_page(f"{base}/", args.seconds, cookie),
        "boards page, signed in": lambda: wrk_page(f"{base}/boards", args.seconds, cookie),
    }
    results: dict[str, list[float]] = {name: [] for name in measures}
    try:
        wait_for(f"{base}/api/v1/openapi.json")
        wait_for(f"http://127.0.0.1:{PORT_ANCHOR}/hello")
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}, load {os.getloadavg()[0]:.1f}", flush=True)
            for name, measure in measures.items():
                results[name].append(measure())
                print(f"  {name}: {results[name][-1]:,.0f}/s", flush=True)
    finally:
        linli.stop()
        anchor.stop()
    hello = statistics.median(results["hello world (anchor)"])
    print(f"\nPostgreSQL, 1,000,000 residents, 4 workers, {args.rounds} rounds × {args.seconds} s")
    print("| page | median /s | spread | ÷ hello world |")
    print("| --- | --- | --- | --- |")
    for name, values in results.items():
        median = statistics.median(values)
        spread = f"{min(values):,.0f}–{max(values):,.0f}"
        print(f"| {name} | {median:,.0f} | {spread} | {100 * median / hello:.1f}% |")
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
