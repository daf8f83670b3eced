"""The ranking boards at city scale against the naive indexed queries, side by side.

    .venv/bin/python bench/boards.py                    # PostgreSQL, 1,000,000 residents
    .venv/bin/python bench/boards.py --sqlite           # SQLite, a street of 200,000

Builds once (kept between runs) a city with `flask bench-seed` in a database of its own
(PostgreSQL `linli_city` at 127.0.0.1, or bench/work/street.sqlite3), then in interleaved
rounds, in one process, times:

- "my rank" on the street's board (all time, and this month) and on a community's board:
  Linli's `rankings.rank_of` — what the home page and the 排名 command call — for middling
  residents, against the naive `SELECT count(*) FROM period_totals WHERE period = … AND
  account_kind = 'wallet' AND amount > …` (the anchor `../shared/anchors/lb/lb_sql.py`
  runs, here on Linli's own table, data and index);
- the top 50 of the street's board: `rankings.board` (names masked, opted-out people left
  out, honours) against the naive indexed `… ORDER BY amount DESC LIMIT 50` of the same
  table (no names, nobody left out).

Prints each median, the spread, the ratio and the load average. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from common import ROOT, database_url, environment, flask


def build(url: str, residents: int) -> None:
    flask(url, "db", "upgrade")
    seeded = flask(url, "bench-seed", "--residents", str(residents), check=False)
    if seeded.returncode not in (0, 1):  # 1: already built
        sys.exit("bench-seed failed")


def timed(call, repeat: int) -> list[float]:
    """Milliseconds of each of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--residents", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    residents = args.residents or (200_000 if args.sqlite else 1_000_000)
    url = database_url(sqlite_file="street.sqlite3" if args.sqlite else None, pg_name="linli_city")
    build(url, residents)

    os.environ.update(environment(url))
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa

    from app import create_app
    from app.core import clock
    from app.core.extensions import db
    from app.models import Account, PeriodTotal, Person
    from app.points import rankings
    from app.points.rankings import Scope

    app = create_app()
    with app.app_context():
        now = clock.now()
        people = db.session.scalar(sa.select(sa.func.count()).select_from(Person))
        entries = db.session.scalar(sa.text("SELECT count(*) FROM ledger_entries"))
        print(f"{people:,} residents, {entries:,} ledger entries, {db.engine.dialect.name}")

        def middling(period: str) -> list[tuple[Person, int]]:
            """Residents around the median of those on the board (half are ahead of them)."""
            key = rankings.period_key(period, now)
            on_board = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(PeriodTotal)
                .where(PeriodTotal.period == key, PeriodTotal.amount > 0)
            )
            rows = db.session.execute(
                sa.select(Person, PeriodTotal.amount)
                .join(Account, sa.and_(Account.owner_id == Person.id, Account.kind == "wallet"))
                .join(PeriodTotal, PeriodTotal.account_id == Account.id)
                .where(PeriodTotal.period == key, PeriodTotal.amount > 0)
                .order_by(PeriodTotal.amount.desc(), Account.id)
                .offset(on_board // 2)
                .limit(args.calls)
            ).all()
            print(f"  {period}: {on_board:,} on the street's board; middling at {rows[0][1]}")
            return [(person, amount) for person, amount in rows]

        cases = []
        for period in ("all", "month"):
            key = rankings.period_key(period, now)
            sample = middling(period)
            cases.append(
                (
                    f"my rank, street, {period}",
                    lambda s=sample, p=period: [
                        rankings.rank_of(person, Scope("street"), p, now) for person, _a in s
                    ],
                    lambda s=sample, k=key: [
                        db.session.execute(
                            sa.text(
                                "SELECT count(*) FROM period_totals WHERE period = :k "
                                "AND account_kind = 'wallet' AND amount > :a"
                            ),
                            {"k": k, "a": amount},
                        ).scalar()
                        for _p, amount in s
                    ],
                    len(sample),
                )
            )
        sample = middling("all")
        cases.append(
            (
                "my rank, own community, all",
                lambda: [
                    rankings.rank_of(person, Scope("community", person.community_id), "all", now)
                    for person, _a in sample
                ],
                lambda: [
                    db.session.execute(
                        sa.text(
                            "SELECT count(*) FROM period_totals t JOIN accounts a "
                            "ON a.id = t.account_id WHERE t.period = 'ALL' AND t.amount > :a "
                            "AND a.community_id = :c"
                        ),
                        {"a": amount, "c": person.community_id},
                    ).scalar()
                    for person, amount in sample
                ],
                len(sample),
            )
        )
        cases.append(
            (
                "top 50, street, all",
                lambda: rankings.board(Scope("street"), "all", now, 50),
                lambda: db.session.execute(
                    sa.text(
                        "SELECT account_id, amount FROM period_totals WHERE period = 'ALL' "
                        "AND account_kind = 'wallet' ORDER BY amount DESC LIMIT 50"
                    )
                ).all(),
                1,
            )
        )
        # The answers agree with the naive count (the opted-out aside).
        for person, amount in sample[:3]:
            rank = rankings.rank_of(person, Scope("street"), "all", now)
            print(f"  resident #{person.id}: {amount} points, rank {rank.position} of {rank.of}")

        results: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n, *_r in cases}
        for _round in range(args.rounds):  # interleaved: naive, Linli, naive, Linli …
            for name, linli, naive, per in cases:
                db.session.rollback()
                naive_ms = timed(naive, 3)
                linli_ms = timed(linli, 3)
                results[name][0].extend(t / per for t in naive_ms)
                results[name][1].extend(t / per for t in linli_ms)
        db.session.rollback()

    print()
    print(f"{'measure':32} {'naive ms':>18} {'Linli ms':>18} {'naive ÷ Linli':>14}")
    for name, (naive_ms, linli_ms) in results.items():
        a, b = statistics.median(naive_ms), statistics.median(linli_ms)
        spread_a = f"{min(naive_ms):.2f}–{max(naive_ms):.2f}"
        spread_b = f"{min(linli_ms):.2f}–{max(linli_ms):.2f}"
        print(f"{name:32} {a:8.2f} ({spread_a:>9}) {b:8.2f} ({spread_b:>9}) {a / b:13.2f}×")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
