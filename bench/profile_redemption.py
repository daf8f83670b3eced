"""Where a redemption's time goes: each of its two requests profiled in one process, beside
the naive Flask + Core transfer (`../shared/anchors/web/app.py`) profiled the same way.

    .venv/bin/python bench/profile_redemption.py              # PostgreSQL
    .venv/bin/python bench/profile_redemption.py --sqlite
    .venv/bin/python bench/profile_redemption.py --pairs 1000 --top 30

bench/redemption.py measures the rate under gunicorn; this says what a request is made of.
It builds the same database (bench/redemption.py's seed: 20 shops, 400 volunteers) and runs
Linli as deployed (production mode, Redis for the rate limits) inside one process, each
request through the WSGI app with Werkzeug's test client (the same client drives the naive
app, so its cost is in both). First untimed warm-up pairs, then timed pairs, then the same
pairs under cProfile. Printed: wall and CPU milliseconds per request for the code request,
the sale and the naive transfer; the sale's and the code request's time by library (where
psycopg's share is mostly waiting for the database); and the app's own functions by
cumulative time. Not a test: ./test never runs it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

from common import ANCHORS, ROOT, VENV, WORK, fresh_pg_database, psql, sh
from redemption import build_linli, linli_env

PROBE = r"""
import cProfile, importlib.util, itertools, json, logging, os, pstats, sys, time
from collections import defaultdict

data = json.loads(open(os.environ["DATA"]).read())
pairs, top, naive_path = int(os.environ["PAIRS"]), int(os.environ["TOP"]), os.environ["NAIVE"]

if os.environ["SUBJECT"] == "naive":
    # The anchor's app.py, alone in its process (Linli's SQLite hooks are set on every
    # engine), loaded by its path (Linli's package is `app` too).
    spec = importlib.util.spec_from_file_location("anchor", os.environ["ANCHOR_DIR"] + "/app.py")
    naive_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(naive_module)
    naive_client = naive_module.app.test_client()
else:
    from wsgi import app as linli
    linli_client = linli.test_client()
PUBLIC = os.environ["LINLI_PUBLIC_URL"]  # the host a production server answers to
logging.getLogger("linli.request").setLevel(logging.WARNING)  # a line a request, not here
counter = itertools.count()


def headers(token):
    key = f"p{os.getpid()}-{next(counter)}"
    return {"Authorization": "Bearer " + token, "Idempotency-Key": key}


def code_request(n):
    answer = linli_client.post(PUBLIC + "/api/v1/me/redemption-code", json={},
                               headers=headers(data["volunteers"][n % len(data["volunteers"])]))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["code"]


def sale(n, code):
    shop = n % len(data["shops"])
    answer = linli_client.post(PUBLIC + "/api/v1/redemptions", headers=headers(data["shops"][shop]),
                               json={"code": code, "offer_id": data["offers"][shop], "quantity": 1})
    assert answer.status_code == 201, answer.get_data(as_text=True)


def transfer(_n):
    answer = naive_client.post(naive_path)
    assert answer.status_code == 200, answer.get_data(as_text=True)


def timed(step, count, first):
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(first, first + count):
        step(n)
    return ((time.perf_counter() - wall) * 1000 / count, (time.process_time() - cpu) * 1000 / count)


# Matched in a function's file, or for a function written in C (file "~") in its name, such
# as "<method 'execute' of 'sqlite3.Cursor' objects>".
AREAS = (
    ("psycopg", "psycopg, and waiting for PostgreSQL"), ("sqlite3", "sqlite3, and its disk"),
    ("/sqlalchemy/orm/", "SQLAlchemy ORM"), ("/sqlalchemy/", "SQLAlchemy Core and engine"),
    ("/flask_limiter/", "rate limits (Flask-Limiter, limits, redis)"),
    ("/limits/", "rate limits (Flask-Limiter, limits, redis)"),
    ("/redis/", "rate limits (Flask-Limiter, limits, redis)"),
    ("/flask_babel/", "Flask-Babel, Babel"), ("/babel/", "Flask-Babel, Babel"),
    ("/flask_login/", "Flask-Login"), ("/werkzeug/test", "the test client (both apps pay it)"),
    ("/flask/", "Flask and Werkzeug"), ("/werkzeug/", "Flask and Werkzeug"),
    ("/json/", "json"), ("/marshmallow/", "marshmallow"), ("/prometheus_client/", "metrics"),
    ("/app/", "Linli's own code"),
)


def area(filename, function):
    where = function if filename == "~" else filename
    for marker, name in AREAS:
        if marker in where:
            return name
    return "the rest (standard library, builtins)"


def profile(step, count, first, label):
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(first, first + count):
        step(n)
    profiler.disable()
    stats = pstats.Stats(profiler)
    dump = os.path.join(os.environ["ANCHORS_WORK"], f"profile-{label.replace(' ', '-')}.pstats")
    stats.dump_stats(dump)  # for a closer look: python -m pstats <file>
    by_area, total = defaultdict(float), 0.0
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        by_area[area(filename, function)] += tottime
        total += tottime
    print(f"\n{label}: time by library under cProfile ({count} requests; ms a request)\n")
    print("| library | ms | share |")
    print("| --- | --- | --- |")
    for name, seconds in sorted(by_area.items(), key=lambda item: -item[1]):
        print(f"| {name} | {seconds * 1000 / count:.2f} | {seconds / total:.0%} |")
    ours = [
        (ct, f"{os.path.relpath(filename, os.getcwd())}:{line} {name}")
        for (filename, line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()
        if "/app/" in filename and "site-packages" not in filename
    ]
    print(f"\n{label}: Linli's functions by cumulative time (ms a request; all of it in {dump})\n")
    for ct, where in sorted(ours, reverse=True)[:top]:
        print(f"  {ct * 1000 / count:7.2f}  {where}")


codes = {}


def sale_step(n):
    sale(n, codes.pop(n))


def full_step(n):
    sale(n, code_request(n))


if os.environ["SUBJECT"] == "naive":
    for n in range(200):  # warm up: the pool, caches
        transfer(n)
    wall, cpu = timed(transfer, pairs, 0)
    print(f"NAIVE {wall} {cpu}")
    profile(transfer, pairs, 0, "naive transfer")
    sys.exit()
for n in range(200):  # warm up: the pool, prepared statements, caches
    full_step(n)
first = 1000
code_ms = timed(code_request, pairs, first)
for n in range(first + pairs, first + 2 * pairs):
    codes[n] = code_request(n)
sale_ms = timed(sale_step, pairs, first + pairs)
naive_ms = tuple(float(part) for part in os.environ["NAIVE_MS"].split())
print(f"\n{pairs} of each, one process at a time, no concurrency\n")
print("| request | wall ms | CPU ms | CPU ÷ naive |")
print("| --- | --- | --- | --- |")
for name, (wall, cpu) in (("naive transfer (anchor)", naive_ms),
                          ("Linli code request", code_ms), ("Linli sale", sale_ms)):
    print(f"| {name} | {wall:.2f} | {cpu:.2f} | {cpu / naive_ms[1]:.1f}× |")
both = code_ms[1] + sale_ms[1]
print(f"| Linli full redemption (both) | {code_ms[0] + sale_ms[0]:.2f} | {both:.2f} | "
      f"{both / naive_ms[1]:.1f}× |")
first = 10 * pairs
profile(code_request, pairs, first, "code request")
for n in range(first + pairs, first + 2 * pairs):
    codes[n] = code_request(n)
profile(sale_step, pairs, first + pairs, "sale")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print("building…", flush=True)
    url = build_linli(args.sqlite)
    if args.sqlite:
        sh(
            [str(VENV / "python"), str(ANCHORS / "sqlite" / "sqlite_xfer.py"), "NORMAL", "0"]
            + ["--fresh"],
            env={**linli_env(url), "ANCHORS_WORK": str(WORK)},
        )
    else:
        fresh_pg_database("bench")
        psql("bench", file=ANCHORS / "pg" / "ledger_schema.sql")
    env = {
        **linli_env(url),
        "ANCHORS_WORK": str(WORK),
        "ANCHOR_DIR": str(ANCHORS / "web"),
        "DATA": str(WORK / "redeem_data.json"),
        "PAIRS": str(args.pairs),
        "TOP": str(args.top),
        "NAIVE": "/xfer/sqlite" if args.sqlite else "/xfer/pg",
    }
    naive = subprocess.run(
        [str(VENV / "python"), "-c", PROBE],
        cwd=ROOT,
        env={**env, "SUBJECT": "naive"},
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    timing = re.search(r"^NAIVE (.*)$", naive, re.MULTILINE)
    done = subprocess.run(
        [str(VENV / "python"), "-c", PROBE],
        cwd=ROOT,
        env={**env, "SUBJECT": "linli", "NAIVE_MS": timing.group(1)},
        check=False,
    )
    print(naive.replace(timing.group(0), "").strip("\n"))
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
