"""A fake WeChat Official Account API on 127.0.0.1, answering as the real one does:
POST /cgi-bin/stable_token (JSON: grant_type, appid, secret) gives
{"access_token", "expires_in": 7200} — the same token to every caller while it is valid,
as WeChat's stable token does — or {"errcode": 40125, …} for a wrong secret; POST
/cgi-bin/message/custom/send?access_token=… (JSON: touser, msgtype, text.content) answers
{"errcode": 0, "errmsg": "ok"}, 40001 for a token it no longer knows, 45015 for a follower
silent for more than 48 hours."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeWeChatApi:
    def __init__(self, app_id: str = "wx5823bf96d3bd56c7", secret: str = "test-app-secret"):
        self.app_id, self.secret = app_id, secret
        self.token: str | None = None
        self.fetches = 0
        self.messages: list[dict] = []
        self.silent_followers: set[str] = set()
        self.lock = threading.Lock()
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

    def __enter__(self) -> FakeWeChatApi:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join()

    def expire_token(self) -> None:
        """WeChat ended the token (it expired, or the account reset it)."""
        with self.lock:
            self.token = None

    def _answer(self, handler, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        handler.send_response(200)  # WeChat answers errors with 200 and an errcode
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def handle(self, handler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        payload = json.loads(handler.rfile.read(int(handler.headers.get("Content-Length") or 0)))
        with self.lock:
            if url.path == "/cgi-bin/stable_token":
                if (payload.get("appid"), payload.get("secret")) != (self.app_id, self.secret):
                    return self._answer(handler, {"errcode": 40125, "errmsg": "invalid appsecret"})
                if self.token is None:
                    self.fetches += 1
                    self.token = f"ACCESS_TOKEN_{self.fetches}"
                return self._answer(handler, {"access_token": self.token, "expires_in": 7200})
            if url.path == "/cgi-bin/message/custom/send":
                token = urllib.parse.parse_qs(url.query).get("access_token", [""])[0]
                if token != self.token:
                    return self._answer(handler, {"errcode": 40001, "errmsg": "invalid credential"})
                if payload.get("touser") in self.silent_followers:
                    return self._answer(
                        handler, {"errcode": 45015, "errmsg": "response out of time limit"}
                    )
                self.messages.append(payload)
                return self._answer(handler, {"errcode": 0, "errmsg": "ok"})
        return self._answer(handler, {"errcode": 40066, "errmsg": "invalid url"})
