"""/metrics: what Prometheus scrapes, who may scrape it, and counts that add up across
gunicorn's workers (issue 18)."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from app.channels import outbox
from app.core.database import commit_unit_of_work
from app.core.errors import LinliError
from app.partners import redemptions
from app.points import ledger
from tests.servers import get, gunicorn


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client, **kw) -> dict[str, float]:
    resp = client.get("/metrics", **kw)
    assert resp.status_code == 200, resp.status_code
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    return parse(resp.get_data(as_text=True))


_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$")


def parse(text: str) -> dict[str, float]:
    """The exposition format's samples, keyed by name{labels} as written."""
    found = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


@pytest.fixture
def token(app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "scrape-me-0123456789")
    return {"Authorization": "Bearer scrape-me-0123456789"}


def test_a_token_guards_the_metrics(client, token):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.get("/metrics", headers=token).status_code == 200


def test_without_a_token_only_the_demo_answers_and_only_to_this_machine(client, app, monkeypatch):
    assert client.get("/metrics").status_code == 200  # the demo, from 127.0.0.1
    away = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=away).status_code == 404
    monkeypatch.setitem(app.config, "DEMO_MODE", False)
    assert client.get("/metrics").status_code == 404


def test_requests_are_counted_by_endpoint_and_status_with_their_time(client):
    labels = {"endpoint": "ops.healthz", "method": "GET", "status": "200"}
    before = sample("linli_http_requests_total", **labels)
    timed = sample("linli_http_request_duration_seconds_count", endpoint="ops.healthz")
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/page")
    assert sample("linli_http_requests_total", **labels) == before + 3
    assert sample("linli_http_request_duration_seconds_count", endpoint="ops.healthz") == timed + 3
    assert sample("linli_http_requests_total", endpoint="none", method="GET", status="404") >= 1
    # Scraped, the samples are there by name (no raw path is ever a label).
    text = client.get("/metrics").get_data(as_text=True)
    assert 'linli_http_requests_total{endpoint="ops.healthz",method="GET",status="200"}' in text
    assert "/no/such/page" not in text


def test_postings_count_once_committed_and_never_when_rolled_back(db, make_volunteer, now):
    person = make_volunteer()
    wallet = ledger.wallet_for(person)
    issuance = ledger.issuance_account(person.community)
    before = sample("linli_ledger_postings_total", kind="award")

    def award(key: str) -> None:
        ledger.post(
            kind="award",
            legs=[ledger.Leg(issuance, -5), ledger.Leg(wallet, 5)],
            idempotency_key=key,
            now=now,
        )

    award("metrics-1")
    assert sample("linli_ledger_postings_total", kind="award") == before  # not yet committed
    commit_unit_of_work()
    assert sample("linli_ledger_postings_total", kind="award") == before + 1
    award("metrics-1")  # a replay of the same key posts nothing
    commit_unit_of_work()
    assert sample("linli_ledger_postings_total", kind="award") == before + 1
    award("metrics-2")
    from app.core.database import rollback_unit_of_work

    rollback_unit_of_work()
    assert sample("linli_ledger_postings_total", kind="award") == before + 1


def test_refused_redemptions_are_counted_by_reason(db, make_merchant, now):
    merchant, _offer = make_merchant()
    before = sample("linli_redemption_refusals_total", reason="invalid_code")
    with pytest.raises(LinliError):
        redemptions.start("123", merchant, operator=None, now=now)
    assert sample("linli_redemption_refusals_total", reason="invalid_code") == before + 1


def test_wrong_passwords_and_the_lock_out_they_start_are_counted(client, make_user):
    worker = make_user()
    failures = sample("linli_signin_failures_total", method="password")
    lockouts = sample("linli_lockouts_total", limit="password:account")
    page = client.get("/login").text
    from tests.conftest import csrf_from

    for _ in range(5):
        client.post(
            "/login",
            data={"login": worker.phone, "password": "wrong", "csrf_token": csrf_from(page)},
        )
    assert sample("linli_signin_failures_total", method="password") == failures + 5
    assert sample("linli_lockouts_total", limit="password:account") == lockouts + 1


def test_the_outbox_is_read_from_the_database_at_each_scrape(client, db, make_volunteer, now):
    person = make_volunteer()
    for _ in range(3):
        outbox.queue(
            person=person, kind="code", body="验证码 123456", now=now - timedelta(minutes=5)
        )
    db.session.flush()
    figures = scrape(client)
    assert figures['linli_outbox_pending{channel="sms"}'] >= 3
    assert figures['linli_outbox_oldest_pending_seconds{channel="sms"}'] >= 300
    assert "123456" not in client.get("/metrics").get_data(as_text=True)


@pytest.mark.once
def test_counts_add_up_across_workers_and_survive_a_killed_worker(committed_app, tmp_path):
    """Two gunicorn workers answer; both are killed (-9) half-way and replaced; the scrape
    still counts every request, whichever worker answered it."""
    token = "scrape-me-0123456789"
    url = committed_app.config["SQLALCHEMY_DATABASE_URI"]
    served = 'linli_http_requests_total{endpoint="ops.healthz",method="GET",status="200"}'

    def scrape_server() -> dict[str, float]:
        status, text = get(server.url + "/metrics", {"Authorization": f"Bearer {token}"})
        assert status == 200, server.output()
        return parse(text)

    with gunicorn(tmp_path, url, workers=2, env={"LINLI_METRICS_TOKEN": token}) as server:
        for _ in range(10):
            assert get(server.url + "/healthz")[0] == 200
        # Ten, and the start-up probes of tests/servers.py (one, or more on a slow machine).
        before = scrape_server()[served]
        assert before >= 11
        # The second worker may still be starting on a busy machine: wait for it.
        deadline = time.monotonic() + 60
        while len(first := server.workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(first) == 2, server.output()
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now_running = server.workers()
            if len(now_running) == 2 and not set(now_running) & set(first):
                break
            time.sleep(0.1)
        for _ in range(10):
            assert get(server.url + "/healthz")[0] == 200, server.output()
        # What the killed workers counted stays (their files), and their successors add.
        assert scrape_server()[served] == before + 10
        assert get(server.url + "/metrics")[0] == 401
