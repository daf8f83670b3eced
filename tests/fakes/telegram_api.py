"""A fake Telegram Bot API on 127.0.0.1: POST /bot<token>/<method> with JSON, answering
{"ok": true, "result": …} like the real one — or failing, or never answering, on demand."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeTelegramApi:
    def __init__(self, token: str = "123456:TEST-token"):
        self.token = token
        self.calls: list[tuple[str, dict]] = []
        self.failures: list[int] = []
        self.silent = threading.Event()  # set: accept the request, never answer
        self.release = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                api.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTelegramApi:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.thread.join()

    def _answer(self, handler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def handle(self, handler) -> None:
        prefix = f"/bot{self.token}/"
        if not handler.path.startswith(prefix):
            return self._answer(
                handler, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        method = handler.path[len(prefix) :]
        payload = json.loads(handler.rfile.read(int(handler.headers.get("Content-Length") or 0)))
        if self.silent.is_set():
            self.release.wait(30)
            return
        if self.failures:
            status = self.failures.pop(0)
            body = {
                "ok": False,
                "error_code": status,
                "description": "Too Many Requests" if status == 429 else "Bad Gateway",
            }
            if status == 429:
                body["parameters"] = {"retry_after": 3}
            return self._answer(handler, status, body)
        if method == "sendMessage" and not payload.get("text"):
            return self._answer(
                handler,
                400,
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message text is empty",
                },
            )
        self.calls.append((method, payload))
        result = (
            {
                "message_id": len(self.calls),
                "chat": {"id": payload.get("chat_id")},
                "text": payload.get("text"),
            }
            if method == "sendMessage"
            else True
        )
        self._answer(handler, 200, {"ok": True, "result": result})
