"""A fake SMS gateway on 127.0.0.1 speaking Twilio's Messages API, for delivery tests.

POST /2010-04-01/Accounts/{AccountSid}/Messages.json with form To, From, Body and basic
auth; answers 201 with the message resource, 401 for bad credentials, 400 for a missing
field, or whatever failure the test queues up next (e.g. 503, or 429 with Retry-After).
HTTP/1.1 with keep-alive, as a real gateway; it counts the connections it was opened, and
may take `latency` seconds per message, as a real one over the internet does.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakeSmsGateway:
    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "tok-secret",
        latency: float = 0,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.latency = latency
        self.messages: list[dict] = []
        self.failures: list[int] = []
        self.connections = 0
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def setup(self):
                super().setup()
                # As a real server does: the answer's body is not held back until the
                # client acknowledges its headers (Nagle's algorithm with a delayed ACK
                # would add 40 ms to every message on a kept-open connection).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with gateway.lock:
                    gateway.connections += 1

            def log_message(self, *args):  # quiet test output
                pass

            def do_POST(self):
                gateway.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSmsGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join()

    def fail_next(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    def _answer(self, handler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        if status == 429:
            handler.send_header("Retry-After", "120")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def handle(self, handler) -> None:
        # The body first, whatever the answer: a keep-alive connection goes on after it.
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode()
        expected_path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if handler.path != expected_path:
            return self._answer(handler, 404, {"code": 20404, "message": "not found"})
        credentials = f"{self.account_sid}:{self.auth_token}".encode()
        if (
            handler.headers.get("Authorization")
            != "Basic " + base64.b64encode(credentials).decode()
        ):
            return self._answer(handler, 401, {"code": 20003, "message": "Authenticate"})
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            if self.failures:
                status = self.failures.pop(0)
                return self._answer(handler, status, {"code": 30001, "message": "queue full"})
        for name in ("To", "From", "Body"):
            if not form.get(name):
                return self._answer(
                    handler, 400, {"code": 21604, "message": f"A '{name}' is required."}
                )
        with self.lock:
            sid = f"SM{len(self.messages) + 1:032d}"
            self.messages.append({"sid": sid, **form})
        self._answer(
            handler,
            201,
            {
                "sid": sid,
                "status": "queued",
                "to": form["To"],
                "from": form["From"],
                "body": form["Body"],
                "account_sid": self.account_sid,
            },
        )
