"""/healthz and /readyz: what a supervisor and a load balancer ask (issue 18)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent


def test_healthz_answers_while_the_process_runs(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}
    assert resp.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_on_a_database_at_the_migrations_head(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_is_not_ready_on_a_schema_behind_the_code(client, db):
    head = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = '0017'"))
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    assert resp.get_json() == {
        "status": "unavailable",
        "checks": {"database": f"schema at 0017, the code needs {head}"},
    }


def test_readyz_is_not_ready_when_the_database_does_not_answer(tmp_path):
    # A real outage, in a process of its own: nothing listens on port 1 (refused at once).
    probe = (
        "import json\n"
        "from app import create_app\n"
        "client = create_app({'TESTING': True}).test_client()\n"
        "ready, alive = client.get('/readyz'), client.get('/healthz')\n"
        "print(json.dumps([ready.status_code, ready.get_json(), alive.status_code]))\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/linli",
        "LINLI_INSTANCE_PATH": str(tmp_path),
    }
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    status, body, alive = json.loads(out.stdout.strip().splitlines()[-1])
    assert (status, body["checks"]["database"], alive) == (503, "unreachable", 200)


def test_readyz_checks_redis_when_it_is_configured(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:6379/15")
    assert client.get("/readyz").get_json()["checks"]["redis"] == "ok"
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["redis"] == "unreachable"


def test_probes_are_logged_at_debug_only(client, caplog):
    with caplog.at_level(logging.DEBUG, logger="linli.request"):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/v1/openapi.json").status_code == 200
    levels = {r.getMessage().split()[1]: r.levelno for r in caplog.records}
    assert levels == {
        "/healthz": logging.DEBUG,
        "/readyz": logging.DEBUG,
        "/api/v1/openapi.json": logging.INFO,
    }
