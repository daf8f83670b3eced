"""`flask outbox run` as the service it is deployed as: stopped by SIGTERM, it finishes the
messages in hand, so none goes twice and none is left claimed (issue 18)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from app.channels import outbox
from app.core.database import commit_unit_of_work
from app.models import OutboxMessage
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.servers import ROOT


@pytest.mark.once
def test_sigterm_finishes_the_batch_in_hand_and_sends_nothing_twice(committed_app, tmp_path):
    from app.core.extensions import db

    with committed_app.app_context():
        now = committed_app.config["LINLI_CLOCK"]()
        for i in range(8):
            outbox.queue(phone=f"+861380013{i:04d}", kind="test", body=f"通知{i}", now=now)
        commit_unit_of_work()
        db.session.remove()
    # A slow gateway (a second a message): the stop comes while the first batch is out.
    with FakeSmsGateway(latency=1.0) as gateway:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LINLI_", "SMS_"))}
        env.update(
            {
                "LINLI_INSTANCE_PATH": str(tmp_path),
                "DATABASE_URL": committed_app.config["SQLALCHEMY_DATABASE_URI"],
                "SMS_GATEWAY_URL": gateway.url,
                "SMS_ACCOUNT_SID": gateway.account_sid,
                "SMS_AUTH_TOKEN": gateway.auth_token,
                "SMS_FROM": "+8610690000",
                "LINLI_OUTBOX_THREADS": "2",
            }
        )
        worker = subprocess.Popen(  # noqa: S603 (our own interpreter and code)
            [sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "run", "--batch", "4"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while gateway.connections == 0 and time.monotonic() < deadline:
                assert worker.poll() is None, worker.stdout.read()
                time.sleep(0.05)
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
    assert worker.returncode == 0, output
    assert "发完手头的消息后停止" in output and "已停止" in output
    with committed_app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.provider_id)
        ).all()
        db.session.remove()
    sent = [row for row in rows if row.status == "sent"]
    # The batch in hand (4) was sent and recorded; the rest was never claimed.
    assert len(sent) == 4 and all(row.provider_id.startswith("SM") for row in sent)
    assert (
        sorted((r.status, r.attempts) for r in rows if r.status != "sent") == [("pending", 0)] * 4
    )
    assert len(gateway.messages) == 4
