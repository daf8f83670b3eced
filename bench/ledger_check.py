"""`flask ledger-check` at scale against its anchor, the bare scan, side by side in one run.

    .venv/bin/python bench/ledger_check.py --entries 2000000            # PostgreSQL
    .venv/bin/python bench/ledger_check.py --entries 400000 --sqlite    # SQLite

Builds (once, kept between runs) a ledger of the given size with `flask bench-seed`, in a
database of its own (PostgreSQL `linli_bench` at 127.0.0.1, or bench/work/ledger.sqlite3):
residents and their wallets, community issuance accounts, awards spread over two years, a
share of them reversed, and the kept balances, period totals and boards' counts that go
with them — so the check must come out clean. Then, in interleaved rounds, times the
anchor (`SELECT account_id, sum(amount) FROM ledger_entries GROUP BY account_id`, what any
check must at least read)
and `flask --app wsgi ledger-check` in a fresh process (its peak RSS measured by wait4),
and prints medians, the spread, the ratio and the load average. Not a test: never run by
./test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from common import ROOT, database_url, environment, flask


def build(url: str, entries: int, wallets: int) -> None:
    """The ledger of `entries` entries, by `flask bench-seed` (kept between runs)."""
    import sqlalchemy as sa

    flask(url, "db", "upgrade")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        have = conn.scalar(sa.text("SELECT count(*) FROM ledger_entries"))
    engine.dispose()
    # The seeder makes whole awards and reversals: a few entries short of the number asked.
    if have >= entries * 0.99:
        print(f"ledger of {have:,} entries already built")
        return
    if have:
        sys.exit(f"{have:,} entries there, fewer than {entries:,}: drop the bench database")
    started = time.perf_counter()
    flask(url, "bench-seed", "--residents", str(wallets), "--entries", str(entries))
    print(f"built in {time.perf_counter() - started:.0f} s")


def anchor_seconds(url: str) -> float:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(
            sa.text("SELECT account_id, sum(amount) FROM ledger_entries GROUP BY account_id")
        ).fetchall()
        took = time.perf_counter() - started
    engine.dispose()
    return took


def check_seconds(url: str) -> tuple[float, float, int]:
    """flask ledger-check in a fresh process: (seconds, peak RSS in MB, exit code)."""
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 (our own flask, our arguments)
        [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "ledger-check"],
        cwd=ROOT,
        env=environment(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    took = time.perf_counter() - started
    return took, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=2_000_000)
    parser.add_argument("--wallets", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    url = database_url(sqlite_file="ledger.sqlite3" if args.sqlite else None, pg_name="linli_bench")
    build(url, args.entries, args.wallets)
    anchors, checks, rss, codes = [], [], [], []
    for _round in range(args.rounds):  # interleaved: A, B, A, B …
        anchors.append(anchor_seconds(url))
        took, peak, code = check_seconds(url)
        checks.append(took)
        rss.append(peak)
        codes.append(code)
    load = os.getloadavg()
    a, c = statistics.median(anchors), statistics.median(checks)
    db = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"\nledger-check, {db}, {args.entries:,} entries, {args.rounds} interleaved rounds")
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
    print("| measure | median | spread | ratio |")
    print("| --- | --- | --- | --- |")
    print(
        f"| anchor: bare GROUP BY scan | {a:.2f} s | {min(anchors):.2f}–{max(anchors):.2f} s | 1 |"
    )
    spread = f"{min(checks):.2f}–{max(checks):.2f} s"
    print(f"| `flask ledger-check` (fresh process) | {c:.2f} s | {spread} | {c / a:.1f}× |")
    print(f"| ledger-check peak RSS | {statistics.median(rss):.0f} MB | | |")
    if any(codes):
        print(f"\nledger-check exit codes {codes}: it found problems (it should find none)")


if __name__ == "__main__":
    main()
