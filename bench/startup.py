"""What a respawned worker pays: the time to import and build the app, and its memory, for
Linli's `wsgi:app` against the anchor web app (`../shared/anchors/web/app.py`, Flask +
SQLAlchemy Core) and a bare Flask hello world, in fresh processes, interleaved rounds.

    .venv/bin/python bench/startup.py [--rounds 5]

Production mode (LINLI_ENV=production with a throwaway secret and public URL) on a SQLite
file under bench/work/, so nothing is read from the network. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from common import ROOT, WORK, compiled_environ

ANCHOR = ROOT.parent / "shared" / "anchors" / "web"

# gunicorn is imported before the clock starts, as in a worker (and the app knows by it
# that it serves the web: no commands, no Alembic).
PROBE = """
import resource, sys, time
import gunicorn.app.base
sys.path.insert(0, {path!r})
started = time.perf_counter()
{body}
took = time.perf_counter() - started
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

SUBJECTS = {
    "Flask hello world": (str(ROOT), "from flask import Flask\napp = Flask('hello')"),
    "anchor web app (Flask + Core)": (str(ANCHOR), "import app"),
    "Linli wsgi:app (production mode)": (str(ROOT), "import wsgi"),
}


def measure(path: str, body: str) -> tuple[float, float]:
    WORK.mkdir(parents=True, exist_ok=True)
    env = {
        **compiled_environ(),
        "LINLI_ENV": "production",
        "SECRET_KEY": "bench-" + "x" * 40,
        "LINLI_PUBLIC_URL": "https://linli.example",
        "DATABASE_URL": f"sqlite:///{WORK / 'startup.sqlite3'}",
        "LINLI_ALLOW_SQLITE": "1",
        "LINLI_INSTANCE_PATH": str(WORK / "instance"),
        "ANCHORS_WORK": str(WORK),
    }
    out = subprocess.run(  # noqa: S603 (our interpreter, our probe)
        [sys.executable, "-c", PROBE.format(path=path, body=body)],
        cwd=path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in SUBJECTS}
    for path, body in SUBJECTS.values():  # untimed: writes the bytecode a server would have
        measure(path, body)
    for _round in range(args.rounds):  # interleaved: each subject once per round
        for name, (path, body) in SUBJECTS.items():
            results[name].append(measure(path, body))
    load = os.getloadavg()
    base = statistics.median(t for t, _ in results["anchor web app (Flask + Core)"])
    print(f"\nimport + build, fresh process, {args.rounds} interleaved rounds")
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
    print("| subject | import time (median) | spread | peak RSS | time ÷ anchor |")
    print("| --- | --- | --- | --- | --- |")
    for name, rows in results.items():
        times = [t for t, _ in rows]
        rss = statistics.median(r for _, r in rows)
        median = statistics.median(times)
        print(
            f"| {name} | {median * 1000:.0f} ms | {min(times) * 1000:.0f}–{max(times) * 1000:.0f}"
            f" ms | {rss:.0f} MB | {median / base:.1f}× |"
        )


if __name__ == "__main__":
    main()
