"""`flask ledger-check` at scale against its anchor, the bare scan, side by side in one run.

    .venv/bin/python bench/ledger_check.py --entries 2000000            # PostgreSQL
    .venv/bin/python bench/ledger_check.py --entries 400000 --sqlite    # SQLite

Builds (once, kept between runs) a ledger of the given size in Linli's own tables, in a
database of its own (PostgreSQL `linli_bench` at 127.0.0.1, or bench/work/ledger.sqlite3):
wallets, community issuance accounts, awards spread over two years, a share of them
reversed, and the kept balances and period totals that go with them — so the check must
come out clean. Then, in interleaved rounds, times the anchor (`SELECT account_id,
sum(amount) FROM ledger_entries GROUP BY account_id`, what any check must at least read)
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/linli_bench"
COMMUNITIES = 20


def database_url(use_sqlite: bool) -> str:
    if use_sqlite:
        WORK.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{WORK / 'ledger.sqlite3'}"
    import sqlalchemy as sa

    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = 'linli_bench'")):
            conn.execute(sa.text("CREATE DATABASE linli_bench"))
    engine.dispose()
    return PG_BENCH


def environment(url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "LINLI_INSTANCE_PATH": str(WORK / "instance"),
        "SECRET_KEY": "bench-secret-not-for-production",
    }


def build(url: str, entries: int, wallets: int) -> None:
    """The ledger of `entries` entries (2 per award; every 20th award reversed)."""
    os.environ.update(environment(url))
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa

    from app import create_app
    from app.core.extensions import db

    app = create_app()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        have = db.session.scalar(sa.text("SELECT count(*) FROM ledger_entries"))
        if have >= entries:
            print(f"ledger of {have:,} entries already built")
            return
        if have:
            sys.exit(f"{have:,} entries there, fewer than {entries:,}: drop the bench database")
        db.session.remove()  # its transaction would hold SQLite's write lock
        started = time.perf_counter()
        postgres = db.engine.dialect.name == "postgresql"
        awards = entries * 20 // 41  # 20 awards + 1 reversal = 41 transactions, 82 entries
        reversals = awards // 20
        with db.engine.begin() as conn:
            _build_sql(conn, postgres, awards, reversals, wallets)
        took = time.perf_counter() - started
        db.session.remove()
        count = db.session.scalar(sa.text("SELECT count(*) FROM ledger_entries"))
        print(f"built {count:,} entries in {took:.0f} s")


def _build_sql(conn, postgres: bool, awards: int, reversals: int, wallets: int) -> None:
    import sqlalchemy as sa

    def run(sql: str, **params) -> None:
        conn.execute(sa.text(sql), params)

    series = (
        "generate_series(1, :n) AS g(i)"
        if postgres
        else "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
        "SELECT i FROM s) AS g"
    )
    now = "now()" if postgres else "'2026-12-01 00:00:00.000000'"
    # A transaction's time: spread over two years back from 2026-12-01, in time order.
    when = (
        "timestamptz '2024-12-01 00:00:00+00' + (g.i::bigint * 63000000 / :n) * interval '1 second'"
        if postgres
        else "strftime('%Y-%m-%d %H:%M:%S.000000', 1733011200 + g.i * 63000000 / :n, 'unixepoch')"
    )
    run(
        "INSERT INTO org_units (kind, name, parent_id, community_id, path, created_at) "
        f"SELECT 'community', 'bench-' || g.i, NULL, NULL, '', {now} FROM {series}",
        n=COMMUNITIES,
    )
    run("UPDATE org_units SET community_id = id, path = '/' || id || '/' WHERE name LIKE 'bench-%'")
    first_org = conn.execute(
        sa.text("SELECT min(id) FROM org_units WHERE name LIKE 'bench-%'")
    ).scalar()
    run(
        "INSERT INTO accounts (kind, owner_type, owner_id, community_id, balance, created_at) "
        f"SELECT 'issuance', 'org_unit', :first + g.i - 1, :first + g.i - 1, 0, {now} "
        f"FROM {series}",
        n=COMMUNITIES,
        first=first_org,
    )
    run(
        "INSERT INTO accounts (kind, owner_type, owner_id, community_id, balance, created_at) "
        f"SELECT 'wallet', 'person', 100000000 + g.i, :first + g.i % :c, 0, {now} FROM {series}",
        n=wallets,
        first=first_org,
        c=COMMUNITIES,
    )
    first_issuance = conn.execute(
        sa.text("SELECT min(id) FROM accounts WHERE kind = 'issuance'")
    ).scalar()
    first_wallet = conn.execute(
        sa.text("SELECT min(id) FROM accounts WHERE kind = 'wallet' AND owner_id > 100000000")
    ).scalar()
    run(
        "INSERT INTO ledger_transactions (kind, memo, idempotency_key, fingerprint, created_at) "
        f"SELECT 'award', '', 'bench-' || g.i, 'bench', {when} FROM {series}",
        n=awards,
    )
    first_txn = conn.execute(
        sa.text("SELECT min(id) FROM ledger_transactions WHERE idempotency_key LIKE 'bench-%'")
    ).scalar()
    # Award i: wallet (i mod W) gets 1 + i mod 10 points from its community's issuance.
    amount = "(1 + (t.id - :t0) % 10)"
    wallet = "(:w0 + (t.id - :t0) % :w)"
    issuance = f"(:i0 + ({wallet} - :w0 + 1) % :c)"
    run(
        "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
        f"SELECT t.id, {wallet}, {amount} FROM ledger_transactions t WHERE t.id >= :t0",
        t0=first_txn,
        w0=first_wallet,
        w=wallets,
    )
    run(
        "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
        f"SELECT t.id, {issuance}, -{amount} FROM ledger_transactions t WHERE t.id >= :t0",
        t0=first_txn,
        w0=first_wallet,
        w=wallets,
        i0=first_issuance,
        c=COMMUNITIES,
    )
    # Every 20th award reversed, at the same moment (so its period is the same month).
    run(
        "INSERT INTO ledger_transactions "
        "(kind, memo, idempotency_key, fingerprint, reverses_id, created_at) "
        "SELECT 'reversal', '', 'bench-undo-' || t.id, 'bench', t.id, t.created_at "
        "FROM ledger_transactions t WHERE t.id >= :t0 AND (t.id - :t0) % 20 = 0",
        t0=first_txn,
    )
    run(
        "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
        "SELECT r.id, e.account_id, -e.amount FROM ledger_transactions r "
        "JOIN ledger_entries e ON e.transaction_id = r.reverses_id "
        "WHERE r.idempotency_key LIKE 'bench-undo-%'"
    )
    run(
        "UPDATE accounts SET balance = (SELECT coalesce(sum(amount), 0) FROM ledger_entries e "
        "WHERE e.account_id = accounts.id) WHERE id >= :i0",
        i0=first_issuance,
    )
    # The kept period totals, as the ledger keeps them (earned: wallet +, issuance −).
    month = (
        "'M' || to_char(t.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
        if postgres
        else "linli_month_key(t.created_at, 'Asia/Shanghai')"
    )
    signed = "CASE WHEN a.kind = 'wallet' THEN e.amount ELSE -e.amount END"
    run(
        "CREATE TEMPORARY TABLE bench_months AS "
        f"SELECT e.account_id AS account_id, {month} AS period, sum({signed}) AS amount "
        "FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id "
        "JOIN accounts a ON a.id = e.account_id WHERE t.idempotency_key LIKE 'bench-%' "
        f"GROUP BY e.account_id, {month}"
    )
    run(
        "INSERT INTO period_totals (account_id, period, amount) "
        "SELECT account_id, period, amount FROM bench_months"
    )
    run(
        "INSERT INTO period_totals (account_id, period, amount) "
        "SELECT account_id, 'Y' || substr(period, 2, 4), sum(amount) "
        "FROM bench_months GROUP BY account_id, substr(period, 2, 4)"
    )
    run(
        "INSERT INTO period_totals (account_id, period, amount) "
        "SELECT account_id, 'ALL', sum(amount) FROM bench_months "
        "GROUP BY account_id"
    )
    run("ANALYZE" if not postgres else "ANALYZE ledger_entries")


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
    flask = ROOT / ".venv" / "bin" / "flask"
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 (our own flask, our arguments)
        [str(flask), "--app", "wsgi", "ledger-check"],
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
    url = database_url(args.sqlite)
    subprocess.run(  # noqa: S603 (this script, our arguments)
        [sys.executable, __file__, "--build-only", url, str(args.entries), str(args.wallets)],
        check=True,
    )
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
    if len(sys.argv) == 5 and sys.argv[1] == "--build-only":
        build(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
