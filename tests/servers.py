"""Real servers for tests that need processes of their own: Linli under gunicorn with the
repository's gunicorn.conf.py, as the README deploys it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def workers(self) -> list[int]:
        """The pids of gunicorn's workers (the master's children) now."""
        return children(self.process.pid)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # "pid (name) state ppid ...": the name may hold spaces, so split after it.
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def get(url: str, headers: dict | None = None, timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (http://127.0.0.1)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_until_up(url: str, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the server exited:\n" + log.read_text(errors="replace"))
        with contextlib.suppress(OSError):
            if get(url + "/healthz", timeout=2)[0] == 200:
                return
        time.sleep(0.2)
    raise AssertionError("the server did not answer:\n" + log.read_text(errors="replace"))


@contextlib.contextmanager
def gunicorn(
    folder: Path, database_url: str, *, workers: int = 2, env: dict | None = None
) -> Iterator[Server]:
    """Linli under `gunicorn -c gunicorn.conf.py wsgi:app` on a free port, in demo mode on
    `database_url` unless `env` says otherwise; stopped (SIGTERM, as systemd does) after."""
    port = free_port()
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LINLI_", "DATABASE_URL", "PROMETHEUS_", "REDIS_URL"))
    }
    environ.update(
        {
            "LINLI_INSTANCE_PATH": str(folder / "instance"),
            "DATABASE_URL": database_url,
            "LINLI_BIND": f"127.0.0.1:{port}",
            "LINLI_WORKERS": str(workers),
            **(env or {}),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"gunicorn-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own gunicorn and code)
            [GUNICORN, "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_up(server.url, process, log)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
