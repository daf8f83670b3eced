"""A city (or a street) of made-up residents for bench/: `flask bench-seed`.

Set-based SQL into Linli's own tables, so a million residents and two million ledger
entries load in minutes, not the hours the services would take one posting at a time:
communities with issuance accounts, residents with wallets (every 200th hidden from the
boards, as some opt out), awards of 5–100 points spread over the two years before the app's
clock, in time order, every 20th reversed, then the balances, the period totals and the
boards' counts that go with them — so `flask ledger-check` comes out clean. Only into a
database with nobody in it; resumable it is not, but each step shows where it is and one
transaction holds everything, so an interrupted seed leaves the database empty again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.core.extensions import db
from app.points import board_counts

HIDDEN_EVERY = 200
REVERSED_EVERY = 20
SPAN_SECONDS = 730 * 86400  # two years back from the clock


def seed(
    *,
    residents: int,
    entries: int,
    communities: int,
    now: datetime,
    progress: Callable[[object, float], None],
) -> dict:
    """Load the made-up city in the caller's transaction; `progress(step, seconds)` after
    each step. Returns what was made."""
    conn = db.session.connection()
    postgres = conn.dialect.name == "postgresql"
    awards = max(1, entries * REVERSED_EVERY // (2 * REVERSED_EVERY + 2))
    started = time.perf_counter()

    def run(step, sql: str, **params) -> None:
        conn.execute(sa.text(sql), params)
        if step:
            progress(step, time.perf_counter() - started)

    def series(n: str) -> str:
        if postgres:
            return f"generate_series(1, {n}) AS g(i)"
        return (
            f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
            "SELECT i FROM s) AS g"
        )

    stamp = now.strftime("%Y-%m-%d %H:%M:%S.000000")
    epoch = int(now.timestamp())
    # Award i's moment: spread evenly over the two years before now, in id order.
    when = (
        f"timestamptz '{stamp}+00' - ((:n - g.i)::bigint * {SPAN_SECONDS} / :n) "
        "* interval '1 second'"
        if postgres
        else f"strftime('%Y-%m-%d %H:%M:%S.000000', {epoch} - (:n - g.i) * {SPAN_SECONDS} / :n,"
        " 'unixepoch')"
    )
    run(
        None,
        "INSERT INTO org_units (kind, name, parent_id, community_id, path, created_at) "
        f"SELECT 'community', '压测社区' || g.i, NULL, NULL, '', '{stamp}' FROM {series(':n')}",
        n=communities,
    )
    run(
        _l("made-up communities"),
        "UPDATE org_units SET community_id = id, path = '/' || id || '/' "
        "WHERE name LIKE '压测社区%' AND kind = 'community'",
    )
    first_org = conn.scalar(sa.text("SELECT min(id) FROM org_units WHERE name LIKE '压测社区%'"))
    run(
        None,
        "INSERT INTO accounts (kind, owner_type, owner_id, community_id, balance, created_at) "
        f"SELECT 'issuance', 'org_unit', :first + g.i - 1, :first + g.i - 1, 0, '{stamp}' "
        f"FROM {series(':n')}",
        n=communities,
        first=first_org,
    )
    # Resident i: community (i mod C), phone +86 19 and nine digits of i.
    digits = "lpad(g.i::text, 9, '0')" if postgres else "substr('000000000' || g.i, -9)"
    run(
        _l("made-up residents"),
        "INSERT INTO people (name, phone, community_id, org_unit_id, locale, hide_from_boards, "
        "notifications_off, verified_minutes, is_active_account, session_version, created_at, "
        "updated_at) "
        f"SELECT '居民' || g.i, '+8619' || {digits}, "
        ":first + g.i % :c, :first + g.i % :c, 'zh', (g.i % :hidden = 0), false, 0, true, 0, "
        f"'{stamp}', '{stamp}' FROM {series(':n')}",
        n=residents,
        first=first_org,
        c=communities,
        hidden=HIDDEN_EVERY,
    )
    run(
        _l("their wallets"),
        "INSERT INTO accounts (kind, owner_type, owner_id, community_id, balance, created_at) "
        f"SELECT 'wallet', 'person', p.id, p.community_id, 0, '{stamp}' FROM people p "
        "WHERE p.name LIKE '居民%' ORDER BY p.id",
    )
    first_issuance = conn.scalar(sa.text("SELECT min(id) FROM accounts WHERE kind = 'issuance'"))
    first_wallet = conn.scalar(sa.text("SELECT min(id) FROM accounts WHERE kind = 'wallet'"))
    run(
        _l("award transactions"),
        "INSERT INTO ledger_transactions "
        "(kind, memo, idempotency_key, fingerprint, created_at, entry_count) "
        f"SELECT 'award', '压测', 'bench-' || g.i, 'bench', {when}, 2 FROM {series(':n')}",
        n=awards,
    )
    first_txn = conn.scalar(
        sa.text("SELECT min(id) FROM ledger_transactions WHERE idempotency_key LIKE 'bench-%'")
    )
    # Every entry here counts in its transaction's month (ledger_entries.earned_in).
    zone = current_app.config["LINLI_TIMEZONE"]
    month = (
        "'M' || to_char(t.created_at AT TIME ZONE CAST(:zone AS TEXT), 'YYYY-MM')"
        if postgres
        else "linli_month_key(t.created_at, :zone)"
    )
    # Award k goes to wallet (k * 7919 mod W), so neighbours in time are strangers; 5–100
    # points in steps of 5. Its community's issuance account pays.
    k = "CAST(t.id - :t0 AS BIGINT)"
    amount = f"(5 * (1 + ({k} * 31) % 20))"
    wallet = f"(:w0 + ({k} * 7919) % :w)"
    run(
        None,
        "INSERT INTO ledger_entries (transaction_id, account_id, amount, earned_in) "
        f"SELECT t.id, {wallet}, {amount}, {month} FROM ledger_transactions t WHERE t.id >= :t0",
        t0=first_txn,
        zone=zone,
        w0=first_wallet,
        w=residents,
    )
    run(
        _l("award entries"),
        "INSERT INTO ledger_entries (transaction_id, account_id, amount, earned_in) "
        f"SELECT t.id, :i0 + w.community_id - :first, -{amount}, {month} "
        f"FROM ledger_transactions t JOIN accounts w ON w.id = {wallet} WHERE t.id >= :t0",
        t0=first_txn,
        zone=zone,
        w0=first_wallet,
        w=residents,
        i0=first_issuance,
        first=first_org,
    )
    # Every 20th award reversed, at the same moment (so in the same month).
    run(
        None,
        "INSERT INTO ledger_transactions "
        "(kind, memo, idempotency_key, fingerprint, reverses_id, created_at, entry_count) "
        "SELECT 'reversal', '压测', 'bench-undo-' || t.id, 'bench', t.id, t.created_at, 2 "
        f"FROM ledger_transactions t WHERE t.id >= :t0 AND (t.id - :t0) % {REVERSED_EVERY} = 0",
        t0=first_txn,
    )
    run(
        _l("reversals of every 20th award"),
        "INSERT INTO ledger_entries (transaction_id, account_id, amount, earned_in) "
        "SELECT r.id, e.account_id, -e.amount, e.earned_in FROM ledger_transactions r "
        "JOIN ledger_entries e ON e.transaction_id = r.reverses_id "
        "WHERE r.idempotency_key LIKE 'bench-undo-%'",
    )
    if postgres:
        run(
            _l("balances"),
            "UPDATE accounts SET balance = s.total FROM (SELECT account_id, sum(amount) AS total "
            "FROM ledger_entries GROUP BY account_id) s WHERE s.account_id = accounts.id",
        )
    else:
        run(
            _l("balances"),
            "UPDATE accounts SET balance = coalesce((SELECT sum(amount) FROM ledger_entries e "
            "WHERE e.account_id = accounts.id), 0)",
        )
    signed = "CASE WHEN a.kind = 'wallet' THEN e.amount ELSE -e.amount END"
    person = "CASE WHEN a.kind = 'wallet' AND a.owner_type = 'person' THEN a.owner_id END"
    run(
        None,
        "CREATE TEMPORARY TABLE bench_months AS "
        "SELECT e.account_id AS account_id, a.kind AS kind, e.earned_in AS period, "
        f"sum({signed}) AS amount, {person} AS person_id "
        "FROM ledger_entries e JOIN accounts a ON a.id = e.account_id "
        "WHERE e.earned_in IS NOT NULL GROUP BY e.account_id, a.kind, e.earned_in, "
        "a.owner_type, a.owner_id",
    )
    for select in (
        "SELECT account_id, kind, period, amount, person_id FROM bench_months",
        "SELECT account_id, kind, 'Y' || substr(period, 2, 4), sum(amount), person_id "
        "FROM bench_months GROUP BY account_id, kind, substr(period, 2, 4), person_id",
        "SELECT account_id, kind, 'ALL', sum(amount), person_id FROM bench_months "
        "GROUP BY account_id, kind, person_id",
    ):
        run(
            None,
            "INSERT INTO period_totals (account_id, account_kind, period, amount, person_id) "
            + select,
        )
    run(_l("period totals"), "DROP TABLE bench_months")
    counts = board_counts.rebuild()
    progress(_l("the boards' counts"), time.perf_counter() - started)
    return {
        "communities": communities,
        "residents": residents,
        "entries": conn.scalar(sa.text("SELECT count(*) FROM ledger_entries")),
        "board_rows": counts,
    }
