"""What the bench scripts share: where they keep their databases, how they run flask and
gunicorn, and the hello-world measure."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work"
VENV = ROOT / ".venv" / "bin"
ANCHORS = Path(os.environ.get("ANCHORS_DIR") or ROOT.parent / "shared" / "anchors")
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def database_url(*, sqlite_file: str | None, pg_name: str) -> str:
    """A SQLite file under bench/work/ (with `sqlite_file`), or the PostgreSQL database
    `pg_name` at 127.0.0.1 (created when missing)."""
    if sqlite_file:
        WORK.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{WORK / sqlite_file}"
    import sqlalchemy as sa

    engine = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        found = "SELECT 1 FROM pg_database WHERE datname = :name"
        if not conn.scalar(sa.text(found), {"name": pg_name}):
            conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
    engine.dispose()
    return f"{PG_SERVER}/{pg_name}"


def compiled_environ() -> dict:
    """This environment, less PYTHONDONTWRITEBYTECODE. A server has its modules compiled (pip
    compiles what it installs; a checkout writes __pycache__ on first import); a session's
    PYTHONDONTWRITEBYTECODE would make every timed process compile the app's sources again,
    a fifth of its start."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def environment(url: str) -> dict:
    return {
        **compiled_environ(),
        "DATABASE_URL": url,
        "LINLI_INSTANCE_PATH": str(WORK / "instance"),
        "SECRET_KEY": "bench-secret-not-for-production",
    }


def flask(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`flask --app wsgi …` of this checkout against `url`."""
    return subprocess.run(  # noqa: S603 (our own flask, our arguments)
        [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=environment(url),
        check=check,
    )


def fresh_database(*, sqlite_file: str | None, pg_name: str) -> str:
    """An empty database for a run: the SQLite file under bench/work/ (and its WAL, shared
    memory and rate-limit files) deleted, or the PostgreSQL database dropped and made
    again."""
    if sqlite_file:
        WORK.mkdir(parents=True, exist_ok=True)
        path = WORK / sqlite_file
        for suffix in ("", "-wal", "-shm", "-writer", "-ratelimits", "-ratelimits-writer"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    fresh_pg_database(pg_name)
    return f"{PG_SERVER}/{pg_name}"


def production_env(url: str, port: int, **extra: str) -> dict:
    """Linli as deployed, for gunicorn: production mode with a throwaway secret, the public
    address phones reach (`port` on 127.0.0.1), Redis database 14 for the rate limits."""
    return {
        **compiled_environ(),
        "LINLI_ENV": "production",
        "SECRET_KEY": "bench-secret-only-for-this-machine-0123456789",
        "LINLI_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": url,
        "LINLI_ALLOW_SQLITE": "1",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "LINLI_INSTANCE_PATH": str(WORK / "instance"),
        **extra,
    }


def sh(command: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, text=True, capture_output=True, **kw)


def psql(database: str, sql: str | None = None, file: Path | None = None) -> str:
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qAt", "-v"]
    command += ["ON_ERROR_STOP=1"] + (["-f", str(file)] if file else ["-c", sql or ""])
    return sh(command).stdout


def fresh_pg_database(name: str) -> None:
    psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql("postgres", f"CREATE DATABASE {name}")


def wait_for(url: str, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception as exc:  # not up yet (or an HTTP error: it is up)
            if getattr(exc, "code", None):
                return
            time.sleep(0.2)
    sys.exit(f"nothing answered at {url}")


class Gunicorn:
    def __init__(self, app: str, port: int, workers: int, env: dict, cwd: Path):
        command = [str(VENV / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}"]
        command += ["--preload", "--access-logfile", "/dev/null", app]
        with open(WORK / f"gunicorn-{port}.log", "w") as log:  # the child keeps its own handle
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=log)
        self.port = port

    def worker_rss_mb(self) -> list[float]:
        children = sh(["pgrep", "-P", str(self.process.pid)]).stdout.split()
        sizes = []
        for pid in children:
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
        return sizes

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def wrk_rate(url: str, seconds: int, threads: int = 2, connections: int = 16) -> float:
    out = sh(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url]).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"the anchor failed at {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
