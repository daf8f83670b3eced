"""The README's run command really sets up and serves the app."""

import contextlib
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.once
def test_run_command_serves_the_home_page(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LINLI_"))}
    env.update({"PORT": str(port), "LINLI_INSTANCE_PATH": str(tmp_path / "instance")})
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen(
        ["./run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = None
        for _attempt in range(600):  # up to ~5 minutes on a slow first install
            if process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    body = response.read().decode()
                    break
            except OSError:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.5)
        output = (tmp_path / "run.log").read_text(errors="replace")
        assert body is not None, f"./run did not serve the home page:\n{output}"
        assert "邻里" in body
        assert "300" in body  # the demo street's residents
        assert (tmp_path / "instance" / "linli.sqlite3").exists()
        assert (tmp_path / "instance" / "secret_key").exists()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        log.close()
