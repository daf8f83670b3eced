"""What the server writes to its log and to an error reporter: enough to find a request,
nothing personal (issue 18)."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
PHONE = "13800138000"


def test_a_request_line_says_who_from_where_and_hides_searched_values(client, caplog):
    with caplog.at_level(logging.INFO, logger="linli.request"):
        client.get(f"/boards?q={PHONE}&lang=en%0aforged", headers={"X-Request-ID": "req-12345678"})
    (line,) = [r for r in caplog.records if r.name == "linli.request"]
    assert line.getMessage().startswith("GET /boards?q=…&lang=en%0Aforged 200 ")
    assert "client=127.0.0.1 user=None" in line.getMessage()
    assert PHONE not in line.getMessage()
    assert (line.endpoint, line.status, line.client) == ("volunteers.boards", 200, "127.0.0.1")


def test_a_signed_in_request_names_its_user(client, caplog, make_user, login):
    worker = make_user()
    login(worker)
    with caplog.at_level(logging.INFO, logger="linli.request"):
        client.get("/panel/")
    lines = [r for r in caplog.records if r.name == "linli.request"]
    assert lines[-1].user_id == worker.id


# A server of its own (a log format and an error reporter are set once per process).
PROBE = """
import sys
from app import create_app
app = create_app({"TESTING": False})

@app.get("/boom")
def boom():
    raise RuntimeError("the probe's own failure")

client = app.test_client()
client.set_cookie("session", "a-cookie-value")
print(client.get("/boards?q=PHONE").status_code, file=sys.stderr)
print(client.get("/boom?phone=PHONE", headers={"X-Request-ID": "req-87654321"}).status_code,
      file=sys.stderr)
import sentry_sdk
sentry_sdk.flush(timeout=10)
""".replace("PHONE", PHONE)


def run_probe(tmp_path, committed_app, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LINLI_", "SENTRY_"))}
    environ.update(
        {
            "LINLI_INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": committed_app.config["SQLALCHEMY_DATABASE_URI"],
            **env,
        }
    )
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environ, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out


@pytest.mark.once
def test_json_logs_carry_the_request_fields(tmp_path, committed_app):
    out = run_probe(tmp_path, committed_app, LINLI_LOG_FORMAT="json")
    records = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    boards = next(r for r in records if r.get("endpoint") == "volunteers.boards")
    assert boards["level"] == "INFO" and boards["logger"] == "linli.request"
    assert boards["status"] == 200 and boards["client"] == "127.0.0.1"
    assert len(boards["request_id"]) == 32 and boards["duration_ms"] >= 0
    assert boards["path"] == "/boards?q=…"
    failure = next(r for r in records if r.get("message") == "unhandled error")
    assert failure["request_id"] == "req-87654321" and "RuntimeError" in failure["exc_info"]
    assert PHONE not in out.stderr


class FakeSentry(BaseHTTPRequestHandler):
    """Sentry's ingestion endpoint: POST /api/<project>/envelope/, gzip or plain."""

    envelopes: list[list[dict]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert self.path == "/api/1/envelope/", self.path
        self.envelopes.append([json.loads(line) for line in body.splitlines() if line.strip()])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.mark.once
def test_unexpected_errors_reach_sentry_without_personal_data(tmp_path, committed_app):
    FakeSentry.envelopes = []
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), FakeSentry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = run_probe(tmp_path, committed_app, SENTRY_DSN=f"http://public@127.0.0.1:{port}/1")
    finally:
        server.shutdown()
        thread.join()
    assert [line for line in out.stderr.splitlines() if line.isdigit()] == ["200", "500"]
    events = [item for envelope in FakeSentry.envelopes for item in envelope if "exception" in item]
    assert len(events) == 1, FakeSentry.envelopes  # one report, not one per listener
    (event,) = events
    (reported,) = event["exception"]["values"]
    assert reported["type"] == "RuntimeError"
    # Reported by the Flask integration (the request's signal), as unhandled; the log line
    # that follows is the same exception, not a second report.
    assert reported["mechanism"] == {"type": "flask", "handled": False}
    assert event["environment"] == "development"
    assert event["request"]["url"].endswith("/boom")
    assert event["request"]["headers"] == {
        "User-Agent": "Werkzeug/3.1.9",
        "X-Request-Id": "req-87654321",
    }
    sent = json.dumps(FakeSentry.envelopes, ensure_ascii=False)
    assert PHONE not in sent and "a-cookie-value" not in sent
