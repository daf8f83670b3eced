"""A worker crash loop: every gunicorn worker killed (-9) every few seconds while clients
keep asking, with the app preloaded in the master (gunicorn.conf.py's default) and without
(LINLI_PRELOAD=0: each replacement imports and builds the app again).

    .venv/bin/python bench/crash_loop.py [--seconds 60] [--every 5] [--workers 4]

Production mode on a SQLite file under bench/work/ with the demo street; 4 client threads
asking for the boards page, each request with a 10-s timeout. Prints requests answered and
failed in each mode. Not a test.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, VENV, WORK, fresh_database, production_env, wait_for  # noqa: E402
from tests.servers import children  # noqa: E402


def crash_loop(url: str, seconds: float, every: float, workers: int, preload: bool) -> tuple:
    port = 8700 + int(preload)
    env = production_env(url, port, LINLI_WORKERS=str(workers), LINLI_BIND=f"127.0.0.1:{port}")
    env["LINLI_PRELOAD"] = "1" if preload else "0"
    log = open(WORK / f"crash-loop-{port}.log", "w")  # noqa: SIM115 (the child keeps it)
    server = subprocess.Popen(  # noqa: S603
        [
            str(VENV / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--access-logfile",
            "/dev/null",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(base + "/healthz", 120)
    answered, failed = [0], [0]
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                with urllib.request.urlopen(base + "/boards", timeout=10) as response:
                    response.read()
                answered[0] += 1
            except Exception:  # a killed worker's connection, a timeout: counted
                failed[0] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    end = time.monotonic() + seconds
    kills = 0
    while time.monotonic() < end:
        time.sleep(every)
        for pid in children(server.pid):
            os.kill(pid, signal.SIGKILL)
            kills += 1
    stop.set()
    for thread in threads:
        thread.join()
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    log.close()
    return answered[0], failed[0], kills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--every", type=float, default=5)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    url = fresh_database(sqlite_file="crash.sqlite3", pg_name="unused")
    env = production_env(url, 8700)
    for command in (["init-db"], ["seed-demo", "--if-empty"]):
        subprocess.run(  # noqa: S603
            [str(VENV / "flask"), "--app", "wsgi", *command],
            cwd=ROOT,
            env={**env, "LINLI_ENV": "development"},
            check=True,
            capture_output=True,
        )
    print(
        f"every worker ({args.workers}) killed every {args.every:.0f} s for {args.seconds:.0f} s, "
        f"4 clients on /boards, {os.cpu_count()} cores"
    )
    print(f"{'app':>28} | {'answered':>8} | {'failed':>6} | {'kills':>5}")
    for preload in (False, True):
        answered, failed, kills = crash_loop(url, args.seconds, args.every, args.workers, preload)
        name = "preloaded (gunicorn.conf.py)" if preload else "built in each worker"
        print(f"{name:>28} | {answered:>8} | {failed:>6} | {kills:>5}")


if __name__ == "__main__":
    main()
