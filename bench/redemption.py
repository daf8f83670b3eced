"""Full redemptions under gunicorn, side by side with the web and database anchors, in one run.

    .venv/bin/python bench/redemption.py                 # PostgreSQL, 4 workers, 3 rounds
    .venv/bin/python bench/redemption.py --sqlite        # SQLite, 2 workers
    .venv/bin/python bench/redemption.py --rounds 5 --seconds 15

A full redemption is what a sale costs the server: the volunteer's phone asks for a code
(`POST /api/v1/me/redemption-code`) and the shop's till redeems it (`POST /api/v1/redemptions`),
driven by wrk with bench/redeem.lua (8 threads, one connection each). Linli runs as deployed:
production mode, gunicorn, Redis for the rate limits (the API limits raised out of the way),
a fresh database of its own (`linli_redeem`, or bench/work/redeem.sqlite3) built by the
migrations and seeded through the services: 20 shops serving one community, 400 volunteers
with points to spend.

Each round runs, one after the other: the naive Flask + SQLAlchemy Core transfer app and
hello world under the same gunicorn (`../shared/anchors/web/app.py`); Linli with the sales
spread over 20 shops; Linli with every sale at one shop; and the database's own ceiling
(pgbench `transfer_random.sql`, 8 clients; on SQLite the raw sqlite3 loop). Medians, the
spread (min–max), the ratios and the load average are printed at the end, with each worker's
resident memory. Not a test: ./test never runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

from common import (
    ANCHORS,
    ROOT,
    VENV,
    WORK,
    Gunicorn,
    fresh_database,
    fresh_pg_database,
    production_env,
    psql,
    sh,
    wait_for,
    wrk_rate,
)

PORT_LINLI, PORT_ANCHOR = 8710, 8711
SHOPS, VOLUNTEERS, THREADS = 20, 400, 8


def linli_env(url: str) -> dict:
    return production_env(
        url,
        PORT_LINLI,
        LINLI_API_RATE_LIMIT="1000000 per minute",
        LINLI_API_REDEEM_RATE_LIMIT="1000000 per minute",
    )


def build_linli(use_sqlite: bool) -> str:
    """A migrated, seeded database; writes the tokens wrk needs to bench/work/redeem_data.lua."""
    url = fresh_database(
        sqlite_file="redeem.sqlite3" if use_sqlite else None, pg_name="linli_redeem"
    )
    env = linli_env(url)
    sh([str(VENV / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env)
    sh(["redis-cli", "-n", "14", "FLUSHDB"])
    seed = subprocess.run(
        [str(VENV / "python"), "-c", SEED], cwd=ROOT, env=env, text=True, capture_output=True
    )
    if seed.returncode:
        sys.exit(seed.stderr)
    data = json.loads(seed.stdout.strip().splitlines()[-1])
    (WORK / "redeem_data.json").write_text(json.dumps(data))  # bench/profile_redemption.py
    lua = (
        "return {\n"
        f"  threads = {THREADS},\n"
        f"  volunteers = {{{', '.join(repr(t) for t in data['volunteers'])}}},\n"
        f"  shops = {{{', '.join(repr(t) for t in data['shops'])}}},\n"
        f"  offers = {{{', '.join(str(o) for o in data['offers'])}}},\n"
        "}\n"
    )
    (WORK / "redeem_data.lua").write_text(lua)
    return url


SEED = f"""
import json
from app import create_app
from app.core import clock
from app.core.database import commit_unit_of_work
from app.core.extensions import db
from app.models import Merchant, MerchantCommunity
from app.partners import offers
from app.people import api_tokens, org, people
from app.points import awards

app = create_app()
with app.app_context():
    now = clock.now()
    community = org.create_community("压测社区")
    out = {{"volunteers": [], "shops": [], "offers": []}}
    for n in range({SHOPS}):
        shop = Merchant(name=f"压测商家{{n}}", tier="community", category="理发")
        db.session.add(shop)
        db.session.flush()
        db.session.add(MerchantCommunity(merchant_id=shop.id, community_id=community.id))
        offer = offers.create_offer(
            shop, offers.OfferFields(title="理发", kind="service", points_cost=1),
            actor=None, by_staff=True, now=now, source="bench")
        operator = people.create_user(
            kind="merchant", name=f"店员{{n}}", phone=f"+86139{{n:08d}}", password="bench pass 1",
            merchant=shop, now=now, actor=None, source="bench")
        out["shops"].append(api_tokens.create(operator, name="till", actor=None, now=now)[1])
        out["offers"].append(offer.id)
    for n in range({VOLUNTEERS}):
        person = people.create_person(
            name=f"志愿者{{n}}", phone=f"+86137{{n:08d}}", community=community, now=now,
            actor=None, source="bench")
        awards.award(person, 100_000, reason="压测", idempotency_key=f"bench-{{n}}", now=now,
                     actor=None, source="bench", may_exceed_budget=True, notify=False)
        out["volunteers"].append(api_tokens.create(person, name="phone", actor=None, now=now)[1])
    commit_unit_of_work()
    print(json.dumps(out))
"""


def wrk_redemptions(mode: str, seconds: int) -> tuple[float, str]:
    out = subprocess.run(
        [
            "wrk",
            f"-t{THREADS}",
            f"-c{THREADS}",
            f"-d{seconds}s",
            "-s",
            str(ROOT / "bench" / "redeem.lua"),
            f"http://127.0.0.1:{PORT_LINLI}",
            "--",
            mode,
            f"{mode}{time.time_ns()}",
        ],
        text=True,
        capture_output=True,
        env={**os.environ, "LINLI_BENCH_WORK": str(WORK), "LINLI_BENCH_DIR": str(ROOT / "bench")},
    )
    line = re.search(r"LINLI (.*)", out.stdout)
    if not line:
        sys.exit(out.stdout + out.stderr)
    fields = dict(part.split("=") for part in line.group(1).split())
    if out.stderr.strip():
        print("  " + out.stderr.strip().replace("\n", "\n  ")[:600])
    rate = int(fields["redemptions"]) / float(fields["seconds"])
    note = (
        f"refused {fields['refused']}, code failures {fields['code_failures']}, "
        f"p99/request {fields['p99_ms']} ms"
    )
    return rate, note


def pgbench_tps(seconds: int) -> float:
    out = sh(
        [
            "pgbench",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-n",
            "-c",
            "8",
            "-j",
            "2",
            "-T",
            str(seconds),
            "-f",
            str(ANCHORS / "pg" / "transfer_random.sql"),
            "bench",
        ]
    ).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def sqlite_loop_tps(seconds: int) -> float:
    out = sh(
        [str(VENV / "python"), str(ANCHORS / "sqlite" / "sqlite_xfer.py"), "NORMAL", str(seconds)],
        env={**os.environ, "ANCHORS_WORK": str(WORK)},
    ).stdout
    return float(re.search(r"tps=(\d+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    workers = 2 if args.sqlite else 4
    print("building…", flush=True)
    url = build_linli(args.sqlite)
    if args.sqlite:  # the transfer loop's database, which the naive app uses too
        sh(
            [
                str(VENV / "python"),
                str(ANCHORS / "sqlite" / "sqlite_xfer.py"),
                "NORMAL",
                "0",
                "--fresh",
            ],
            env={**os.environ, "ANCHORS_WORK": str(WORK)},
        )
    else:
        fresh_pg_database("bench")
        psql("bench", file=ANCHORS / "pg" / "ledger_schema.sql")
    anchor_env = {**os.environ, "ANCHORS_WORK": str(WORK)}
    linli = Gunicorn("wsgi:app", PORT_LINLI, workers, linli_env(url), ROOT)
    anchor = Gunicorn("app:app", PORT_ANCHOR, workers, anchor_env, ANCHORS / "web")
    results: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    try:
        wait_for(f"http://127.0.0.1:{PORT_LINLI}/api/v1/openapi.json")
        wait_for(f"http://127.0.0.1:{PORT_ANCHOR}/hello")
        naive_path = "/xfer/sqlite" if args.sqlite else "/xfer/pg"
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}, load {os.getloadavg()[0]:.1f}", flush=True)
            runs = [
                (
                    "hello world (anchor app)",
                    lambda: wrk_rate(f"http://127.0.0.1:{PORT_ANCHOR}/hello", args.seconds),
                ),
                (
                    "naive Flask + Core transfer",
                    lambda: wrk_rate(f"http://127.0.0.1:{PORT_ANCHOR}{naive_path}", args.seconds),
                ),
                (
                    "Linli full redemption, 20 shops",
                    lambda: wrk_redemptions("spread", args.seconds),
                ),
                ("Linli full redemption, one shop", lambda: wrk_redemptions("hot", args.seconds)),
                (
                    "Linli code request alone",
                    lambda: wrk_redemptions("code", args.seconds),
                ),
                (
                    "raw sqlite3 transfer loop" if args.sqlite else "pgbench transfer, 8 clients",
                    lambda: (
                        sqlite_loop_tps(args.seconds) if args.sqlite else pgbench_tps(args.seconds)
                    ),
                ),
            ]
            for name, run in runs:
                if not args.sqlite:
                    # The anchors' tables after pgbench's and the naive app's updates are
                    # vacuumed (the naive app fell from ~500/s in round 1 to ~200 without it),
                    # and what the last writer left in the WAL is flushed now, not in the
                    # middle of the next measure.
                    psql("bench", "VACUUM ANALYZE")
                    psql("postgres", "CHECKPOINT")
                value = run()
                if isinstance(value, tuple):
                    value, notes[name] = value
                results.setdefault(name, []).append(value)
                print(f"  {name}: {value:.0f}/s", flush=True)
        rss = linli.worker_rss_mb()
    finally:
        linli.stop()
        anchor.stop()
    print()
    print(
        f"{'SQLite' if args.sqlite else 'PostgreSQL'}, {workers} workers, {args.rounds} rounds × "
        f"{args.seconds} s, load average now {os.getloadavg()[0]:.1f}"
    )
    print("| measure | median /s | spread | note |")
    print("| --- | --- | --- | --- |")
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        spread_text = f"{min(values):,.0f}–{max(values):,.0f}"
        print(f"| {name} | {medians[name]:,.0f} | {spread_text} | {notes.get(name, '')} |")
    spread, hot = (
        medians["Linli full redemption, 20 shops"],
        medians["Linli full redemption, one shop"],
    )
    naive = medians["naive Flask + Core transfer"]
    floor_name = "raw sqlite3 transfer loop" if args.sqlite else "pgbench transfer, 8 clients"
    print()
    print(f"full redemption ÷ naive app: {spread / naive:.1%} (target ≥ 50% on PostgreSQL)")
    print(
        f"full redemption ÷ {floor_name}: {spread / medians[floor_name]:.1%}"
        + (" (target ≥ 5%)" if args.sqlite else " (long-term aim: a third)")
    )
    code_alone = medians["Linli code request alone"]
    print(
        f"the code request alone ÷ naive app: {code_alone / naive:.1%} — the API's smallest "
        "write (token, Idempotency-Key, one insert, the stored answer): a full redemption is "
        f"this and a sale, so its floor is under {code_alone / 2 / naive:.0%} of naive"
    )
    print(f"one shop ÷ 20 shops: {hot / spread:.0%} (target ≥ 90%)")
    print(f"Linli worker RSS: {', '.join(f'{m:.0f}' for m in rss)} MB (target ≤ 150)")


if __name__ == "__main__":
    main()
