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
    assert resp.headers["Retry-After"] == "10"
    assert resp.get_json() == {
        "status": "unavailable",
        "checks": {"database": f"schema at 0017, the code needs {head}"},
    }


# What a server answers while its database is down, probed in a process of its own whose
# database is a real address where nothing listens (port 1: the connection is refused).
OUTAGE_PROBE = """
import json
from app import create_app
app = create_app({"TESTING": True, "TELEGRAM_WEBHOOK_SECRET": "s"})
client = app.test_client()
token = {"Authorization": "Bearer linli_abcdefghijklmnopqrstuvwxyz"}
asks = [
    ("get", "/", {}),
    ("get", "/boards", {"headers": {"Accept-Language": "en"}}),
    ("post", "/api/v1/me/redemption-code", {"headers": {**token, "Idempotency-Key": "k-1"}}),
    ("post", "/chat/telegram/webhook", {"json": {"update_id": 1, "message": {
        "message_id": 1, "date": 0, "text": "help", "chat": {"id": 5, "type": "private"},
        "from": {"id": 5, "is_bot": False, "first_name": "A", "language_code": "en"}}},
        "headers": {"X-Telegram-Bot-Api-Secret-Token": "s"}}),
    ("get", "/healthz", {}),
    ("get", "/readyz", {}),
]
answers = []
for method, path, options in asks:
    resp = getattr(client, method)(path, **options)
    answers.append([path, resp.status_code, resp.headers.get("Retry-After"),
                    resp.headers.get("Cache-Control"), resp.get_data(as_text=True)])
print(json.dumps(answers))
"""


def test_a_database_outage_answers_503_with_retry_after(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/linli",
        "LINLI_INSTANCE_PATH": str(tmp_path),
    }
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", OUTAGE_PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    answers = {path: rest for path, *rest in json.loads(out.stdout.strip().splitlines()[-1])}
    for path in ("/", "/boards", "/api/v1/me/redemption-code", "/chat/telegram/webhook"):
        status, retry_after, cache, _body = answers[path]
        assert (status, retry_after, cache) == (503, "10", "no-store"), (path, answers[path])
    assert "服务暂时不可用" in answers["/"][3]  # a page of its own, in the reader's language
    assert "briefly unavailable" in answers["/boards"][3]
    body = json.loads(answers["/api/v1/me/redemption-code"][3])
    assert body["error"]["code"] == "unavailable"
    assert answers["/healthz"][0] == 200  # alive all the same
    assert json.loads(answers["/readyz"][3])["checks"]["database"] == "unreachable"


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


def test_the_gunicorn_settings_load_and_preload_the_app(tmp_path):
    env = {**os.environ, "LINLI_INSTANCE_PATH": str(tmp_path), "LINLI_WORKERS": "3"}
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = [gunicorn, "--print-config", "-c", "gunicorn.conf.py", "wsgi:app"]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: S603
    assert out.returncode == 0, out.stderr
    settings = dict(
        (name.strip(), value.strip())
        for name, _eq, value in (line.partition("=") for line in out.stdout.splitlines())
    )
    assert settings["preload_app"] == "True"
    assert settings["workers"] == "3"
    assert settings["timeout"] == "60" and settings["graceful_timeout"] == "30"
    assert "x-request-id" in settings["access_log_format"]


def test_settings_come_from_a_dotenv_file_and_the_environment_wins(tmp_path):
    dotenv = tmp_path / "linli.env"
    dotenv.write_text(
        "# a deployment's settings\nLINLI_TIMEZONE=Asia/Urumqi\nLINLI_IDEMPOTENCY_HOURS=72\n"
    )
    env = {
        **os.environ,
        "LINLI_ENV_FILE": str(dotenv),
        "LINLI_INSTANCE_PATH": str(tmp_path),
        "LINLI_IDEMPOTENCY_HOURS": "30",  # set for real: the file does not override it
    }
    env.pop("LINLI_TIMEZONE", None)
    probe = "import wsgi; c = wsgi.app.config; print(c['LINLI_TIMEZONE'], c['IDEMPOTENCY_HOURS'])"
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Asia/Urumqi", "30"]


def test_building_the_app_leaves_the_heavy_libraries_for_where_they_are_used(tmp_path):
    """A cron command never loads charts, QR drawing or the gateways' HTTP client (under
    gunicorn the master imports them once, gunicorn.conf.py's when_ready)."""
    probe = (
        "import sys, wsgi; "
        "print(sorted(m for m in ('pygal', 'qrcode', 'PIL', 'urllib3') if m in sys.modules))"
    )
    env = {**os.environ, "LINLI_INSTANCE_PATH": str(tmp_path)}
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "[]"
