"""The check-in burst: 5,000 volunteers texting "签到 NNNN" at once, beside hello world.

    .venv/bin/python bench/checkin.py                    # PostgreSQL, 4 workers, 60 s
    .venv/bin/python bench/checkin.py --sqlite           # SQLite, 2 workers, 120 s

Linli runs as deployed: production mode, gunicorn (--preload) behind nginx (which holds
the phones' connections and hands gunicorn's sync workers only whole requests), Redis for
the rate limits, SMS signatures checked (Twilio's scheme), on a database of its own
(`linli_checkin`, or bench/work/checkin.sqlite3) made by the migrations and `flask
bench-seed` (5,000 residents of one community). Each burst opens a fresh activity (the
last one is cancelled). By text, wrk (bench/checkin.lua, 32 threads × one connection: 32
phones in flight at any time) delivers each volunteer's message once, signed, with the
code the screen shows at that moment. By the scan page (bench/checkin_scan.lua), each
signed-in volunteer opens the QR code's URL, gets the confirmation page and sends its
form, as the browser does. A burst passes when all 5,000 are checked in within the limit
(60 s on PostgreSQL, 120 s on SQLite) and p99 is under 2 s; the time is read from the
attendances' own check-in times. Hello world under the same gunicorn behind the same
nginx, same connections, is the anchor, in interleaved rounds. Needs Debian's wrk and
nginx. Not a test: ./test never runs it.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import sqlalchemy as sa
from common import (
    ANCHORS,
    ROOT,
    VENV,
    WORK,
    Gunicorn,
    fresh_database,
    production_env,
    sh,
    wait_for,
    wrk_rate,
)

PORT_LINLI, PORT_ANCHOR = 8720, 8721  # gunicorn; nginx in front of each on the next two
PROXY_LINLI, PROXY_ANCHOR = 8722, 8723
VOLUNTEERS, CONNECTIONS = 5000, 32
SMS_TOKEN = "bench-sms-auth-token"  # noqa: S105 (this machine's bench only)


NGINX = """
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{proxy_linli};
        location / {{
            proxy_pass http://127.0.0.1:{linli};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
    server {{
        listen 127.0.0.1:{proxy_anchor};
        location / {{ proxy_pass http://127.0.0.1:{anchor}; }}
    }}
}}
"""


class Nginx:
    """nginx in front of both gunicorns, as a deployment has it."""

    def __init__(self):
        conf = WORK / "nginx.conf"
        conf.write_text(
            NGINX.format(
                work=WORK,
                proxy_linli=PROXY_LINLI,
                linli=PORT_LINLI,
                proxy_anchor=PROXY_ANCHOR,
                anchor=PORT_ANCHOR,
            )
        )
        self.process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(WORK)])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def linli_env(url: str) -> dict:
    return production_env(url, PROXY_LINLI, SMS_AUTH_TOKEN=SMS_TOKEN)


def build(use_sqlite: bool) -> str:
    url = fresh_database(
        sqlite_file="checkin.sqlite3" if use_sqlite else None, pg_name="linli_checkin"
    )
    flask = [str(VENV / "flask"), "--app", "wsgi"]
    env = linli_env(url)
    sh([*flask, "db", "upgrade"], cwd=ROOT, env=env)
    seed = ["bench-seed", "--residents", str(VOLUNTEERS), "--entries", "2", "--communities", "1"]
    sh([*flask, *seed], cwd=ROOT, env=env)
    sh(["redis-cli", "-n", "14", "FLUSHDB"])
    return url


# A fresh activity open now (the last round's cancelled), and every volunteer's signed text
# for each rotation of the next few minutes.
ROUND = """
import sys, urllib.parse
from datetime import UTC, datetime, timedelta
from flask import session
from flask_login import login_user
import sqlalchemy as sa
from app import create_app
from app.activities import activities, scan_codes
from app.chat.views import twilio_signature
from app.core import clock
from app.core.database import commit_unit_of_work
from app.core.extensions import db
from app.models import Activity, OrgUnit, Person

round_no, volunteers, minutes, token, public, path, scan_path = sys.argv[1:8]
app = create_app()
with app.app_context():
    now = clock.now()
    db.session.execute(sa.update(Activity).values(is_cancelled=True))
    community = db.session.scalars(sa.select(OrgUnit).filter_by(kind="community")).first()
    fields = activities.ActivityFields(
        title=f"压测签到 {round_no}", starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=2), points=10)
    activity = activities.create_activity(community, fields, actor=None, now=now, source="bench")
    commit_unit_of_work()
    phones = db.session.scalars(
        sa.select(Person.phone).order_by(Person.id).limit(int(volunteers))).all()
    url = public + "/chat/sms/inbound"
    first = scan_codes.rotation(now) - 1
    with open(path, "w") as out:
        for rotation in range(first, first + int(minutes) * 2 + 3):
            code = scan_codes.short_code(activity, "in", now, rotation_no=rotation)
            for index, phone in enumerate(phones, 1):
                params = {"MessageSid": f"SMbench{round_no}x{index}x{rotation}",
                          "From": phone, "Body": f"签到 {code}"}
                signature = twilio_signature(token, url, {k: [v] for k, v in params.items()})
                out.write(f"{rotation}\\t{index}\\t{signature}\\t{urllib.parse.urlencode(params)}\\n")
    # The scan page: the QR code's token for each rotation, and each volunteer's session
    # cookie as signing in on their phone left it (Flask-Login's, for wrk's address).
    serializer = app.session_interface.get_signing_serializer(app)
    people = db.session.scalars(sa.select(Person).order_by(Person.id).limit(int(volunteers))).all()
    with open(scan_path, "w") as out:
        for rotation in range(first, first + int(minutes) * 2 + 3):
            moment = datetime.fromtimestamp(rotation * scan_codes.ROTATION_SECONDS, UTC)
            out.write(f"T\\t{rotation}\\t{scan_codes.scan_token(activity, 'in', moment)}\\n")
        for index, person in enumerate(people, 1):
            with app.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
                login_user(person)
                out.write(f"C\\t{index}\\t{serializer.dumps(dict(session))}\\n")
    print(activity.id)
"""

RESULT = """
import sys
import sqlalchemy as sa
from app import create_app
from app.core.extensions import db
from app.models import Attendance
app = create_app()
with app.app_context():
    count, first, last = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(Attendance.checked_in_at),
                  sa.func.max(Attendance.checked_in_at))
        .where(Attendance.activity_id == int(sys.argv[1]))).one()
    print(count, (last - first).total_seconds() if count else 0)
"""


def burst(url: str, round_no: int, limit: int, via: str) -> tuple[int, float, dict]:
    """One round's burst by text ("sms") or by the scan page ("scan"), on a fresh activity:
    (checked in, seconds from the first check-in to the last, wrk's figures)."""
    env = linli_env(url)
    minutes = str(limit // 60 + 2)
    public = env["LINLI_PUBLIC_URL"]
    made = sh(
        [str(VENV / "python"), "-c", ROUND, str(round_no), str(VOLUNTEERS), minutes, SMS_TOKEN]
        + [public, str(WORK / "checkin_data.tsv"), str(WORK / "checkin_scan.tsv")],
        cwd=ROOT,
        env=env,
    )
    activity_id = made.stdout.strip().splitlines()[-1]
    script = ROOT / "bench" / ("checkin.lua" if via == "sms" else "checkin_scan.lua")
    wrk = subprocess.Popen(
        ["wrk", f"-t{CONNECTIONS}", f"-c{CONNECTIONS}", f"-d{limit + 30}s", "--timeout", "30s"]
        + ["-s", str(script), public, "--"]
        + [str(VOLUNTEERS), str(CONNECTIONS)],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "LINLI_BENCH_WORK": str(WORK), "LINLI_BENCH_DIR": str(ROOT / "bench")},
    )
    # wrk waits out its whole duration even once every thread has stopped: stop it (SIGINT:
    # it prints its summary) as soon as everyone is checked in.
    engine = sa.create_engine(url)
    count = sa.text("SELECT count(*) FROM attendances WHERE activity_id = :a")
    deadline = time.monotonic() + limit + 30
    while wrk.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
        with engine.connect() as conn:
            if conn.scalar(count, {"a": int(activity_id)}) >= VOLUNTEERS:
                break
    engine.dispose()
    time.sleep(1)  # the last answers on their way
    wrk.send_signal(signal.SIGINT)
    stdout, stderr = wrk.communicate(timeout=60)
    line = re.search(r"LINLI (.*)", stdout)
    if not line:
        sys.exit(stdout + stderr)
    fields = dict(part.split("=") for part in line.group(1).split())
    if stderr.strip():
        print("  " + stderr.strip().replace("\n", "\n  ")[:600])
    counted = sh([str(VENV / "python"), "-c", RESULT, activity_id], cwd=ROOT, env=env)
    checked_in, seconds = counted.stdout.split()
    return int(checked_in), float(seconds), fields


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--via", choices=("sms", "scan", "both"), default="both")
    args = parser.parse_args()
    workers, limit = (2, 120) if args.sqlite else (4, 60)
    channels = ("sms", "scan") if args.via == "both" else (args.via,)
    print("building…", flush=True)
    url = build(args.sqlite)
    linli = Gunicorn("wsgi:app", PORT_LINLI, workers, linli_env(url), ROOT)
    anchor = Gunicorn("app:app", PORT_ANCHOR, workers, dict(os.environ), ANCHORS / "web")
    proxy = Nginx()
    hello: list[float] = []
    runs: dict[str, list[tuple[int, float, dict]]] = {via: [] for via in channels}
    try:
        for port in (PORT_LINLI, PROXY_LINLI):  # gunicorn first: nginx answers 502 before
            wait_for(f"http://127.0.0.1:{port}/api/v1/openapi.json")
        for port in (PORT_ANCHOR, PROXY_ANCHOR):
            wait_for(f"http://127.0.0.1:{port}/hello")
        round_no = 0
        for _round in range(args.rounds):  # interleaved: hello world, then each channel
            print(f"round {_round + 1}, load {os.getloadavg()[0]:.1f}", flush=True)
            hello.append(wrk_rate(f"http://127.0.0.1:{PROXY_ANCHOR}/hello", 10, 2, CONNECTIONS))
            print(f"  hello world: {hello[-1]:.0f}/s", flush=True)
            for via in channels:
                round_no += 1
                checked_in, seconds, fields = burst(url, round_no, limit, via)
                runs[via].append((checked_in, seconds, fields))
                print(
                    f"  Linli by {via}: {checked_in:,} of {VOLUNTEERS:,} checked in over "
                    f"{seconds:.1f} s, p50 {fields['p50_ms']} ms, p99 {fields['p99_ms']} ms, "
                    f"max {fields['max_ms']} ms; {fields['answered']} answered, "
                    f"{fields['failed']} refused",
                    flush=True,
                )
        rss = linli.worker_rss_mb()
    finally:
        proxy.stop()
        linli.stop()
        anchor.stop()
    print()
    database = "SQLite" if args.sqlite else "PostgreSQL"
    print(
        f"{database}, {workers} workers behind nginx, {CONNECTIONS} connections, "
        f"{args.rounds} rounds, load average now {os.getloadavg()[0]:.1f}"
    )
    print("| measure | median | spread | target |")
    print("| --- | --- | --- | --- |")
    hello_median = statistics.median(hello)
    print(
        f"| hello world (anchor) | {hello_median:,.0f}/s | {min(hello):,.0f}–{max(hello):,.0f} | |"
    )
    for via, results in runs.items():
        counts = [checked for checked, _s, _f in results]
        spans = [seconds for _c, seconds, _f in results]
        rates = [c / t if t else 0.0 for c, t in zip(counts, spans, strict=True)]
        p99s = [float(fields["p99_ms"]) for _c, _s, fields in results]
        name = "by text (SMS webhook)" if via == "sms" else "by the scan page (2 requests each)"
        print(
            f"| {name}: checked in | {statistics.median(counts):,.0f} "
            f"| {min(counts):,}–{max(counts):,} | all {VOLUNTEERS:,} |"
        )
        print(
            f"| {name}: time for all | {statistics.median(spans):.1f} s "
            f"| {min(spans):.1f}–{max(spans):.1f} s | ≤ {limit} s |"
        )
        rate = statistics.median(rates)
        print(
            f"| {name}: check-ins per second | {rate:.0f}/s "
            f"| {min(rates):.0f}–{max(rates):.0f} | ≥ {VOLUNTEERS / limit:.0f}/s "
            f"({100 * rate / hello_median:.1f}% of hello world) |"
        )
        print(
            f"| {name}: p99 per request | {statistics.median(p99s):,.0f} ms "
            f"| {min(p99s):,.0f}–{max(p99s):,.0f} ms | < 2,000 ms |"
        )
    print(f"| worker RSS | {max(rss):.0f} MB | {min(rss):.0f}–{max(rss):.0f} MB | ≤ 150 MB |")


if __name__ == "__main__":
    main()
