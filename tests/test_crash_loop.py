"""A worker crash loop under gunicorn.conf.py: every worker killed (-9) again and again, and
the server still answers between the kills, because a replacement is forked from the
preloaded master instead of importing and building the app again (issue 18)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.servers import get, gunicorn


@pytest.mark.once
def test_workers_killed_again_and_again_are_replaced_without_rebuilding_the_app(
    committed_app, tmp_path
):
    url = committed_app.config["SQLALCHEMY_DATABASE_URI"]
    killed = set()
    with gunicorn(tmp_path, url, workers=2) as server:

        def live() -> set[int]:
            """Both workers once they are up (a killed one may linger until it is reaped;
            the first answer may come before the second worker has booted)."""
            deadline = time.monotonic() + 30
            while len(set(server.workers()) - killed) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            return set(server.workers()) - killed

        for _round in range(8):
            workers = live()
            assert len(workers) == 2, server.output()
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            # Answered by a replacement (the request waits in the listen queue meanwhile).
            status, _body = get(server.url + "/boards", timeout=30)
            assert status == 200, server.output()
        live()
        output = server.output()
    assert len(killed) == 16
    # Built once, in the master; never again in the 16 workers forked after the kills.
    assert output.count("app built: development mode, sqlite database") == 1, output
    assert output.count("Booting worker") >= 18
