"""The README's deployment through a real nginx (Debian's) running deploy/nginx.conf with TLS
in front of gunicorn in production mode: client addresses reach the rate limits, https is
known as https, static files come from nginx with a year's caching (issue 18)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.conftest import csrf_from, free_port
from tests.servers import ROOT, gunicorn

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "linli.example.org"

pytestmark = [
    pytest.mark.once,
    pytest.mark.skipif(
        not Path(NGINX).exists(), reason="nginx is not installed (apt-get install -y nginx)"
    ),
]


class From(HTTPAdapter):
    """Requests that leave from one loopback address (127.0.0.2, …): clients of their own."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def site(app_port: int, https_port: int, http_port: int, certificate: Path, key: Path) -> str:
    """deploy/nginx.conf as shipped, with this machine's ports, certificate and checkout."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    for shipped, here in [
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("/etc/letsencrypt/live/linli.example.org/fullchain.pem", str(certificate)),
        ("/etc/letsencrypt/live/linli.example.org/privkey.pem", str(key)),
        ("alias /opt/linli/static/;", f"alias {ROOT / 'static'}/;"),
    ]:
        assert shipped in text, f"deploy/nginx.conf no longer has {shipped!r}"
        text = text.replace(shipped, here)
    return text


@pytest.fixture
def proxied(committed_app, tmp_path):
    """gunicorn in production mode behind nginx with TLS; yields the https base URL."""
    key, certificate = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(  # noqa: S603
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST},IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )
    env = {
        "LINLI_ENV": "production",
        "SECRET_KEY": "nginx-test-secret-0123456789abcdef0123",
        "LINLI_PUBLIC_URL": f"https://{HOST}",
        "LINLI_ALLOW_SQLITE": "1",
        "LINLI_TRUSTED_PROXIES": "1",
        "LINLI_LOGIN_RATE_LIMIT": "3 per minute",
        # The probe of tests/servers.py asks for 127.0.0.1 directly.
        "LINLI_ALLOWED_HOSTS": "127.0.0.1",
    }
    url = committed_app.config["SQLALCHEMY_DATABASE_URI"]
    with gunicorn(tmp_path, url, workers=2, env=env) as app_server:
        app_port = int(app_server.url.rsplit(":", 1)[1])
        https_port, http_port = free_port(), free_port()
        (tmp_path / "site.conf").write_text(site(app_port, https_port, http_port, certificate, key))
        (tmp_path / "nginx.conf").write_text(
            f"""daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log;
events {{}}
http {{
    include /etc/nginx/mime.types;
    access_log {tmp_path}/nginx-access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
"""
        )
        checked = subprocess.run(  # noqa: S603
            [NGINX, "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf")])  # noqa: S603
        base = f"https://127.0.0.1:{https_port}"
        try:
            for _ in range(100):
                try:
                    requests.get(
                        base + "/healthz", verify=certificate, headers={"Host": HOST}, timeout=2
                    )
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            yield base, http_port, app_server, certificate
        finally:
            nginx.terminate()
            nginx.wait(10)


def client(address: str, certificate: Path) -> requests.Session:
    session = requests.Session()
    session.mount("https://", From(address))
    session.mount("http://", From(address))
    session.verify = str(certificate)  # the test's own, made for 127.0.0.1
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace it
    session.headers["Host"] = HOST
    return session


def sign_in_attempts(session: requests.Session, base: str, times: int, **headers) -> list[int]:
    page = session.get(base + "/login")
    token = csrf_from(page.text)
    return [
        session.post(
            base + "/login",
            data={"login": "nobody", "password": "wrong", "csrf_token": token},
            headers={"Referer": f"https://{HOST}/login", **headers},
            allow_redirects=False,
        ).status_code
        for _ in range(times)
    ]


def test_each_client_address_has_its_own_rate_limit_through_the_proxy(proxied):
    base, _http_port, _app, certificate = proxied
    first = client("127.0.0.2", certificate)
    # A header of its own does not make a client someone else: nginx sets the address.
    assert sign_in_attempts(first, base, 4, **{"X-Forwarded-For": "203.0.113.7"}) == [
        200,
        200,
        200,
        429,
    ]
    # Another address is another client, with its own three tries.
    assert sign_in_attempts(client("127.0.0.3", certificate), base, 1) == [200]


def test_https_is_known_as_https_behind_the_proxy(proxied):
    base, http_port, app_server, certificate = proxied
    browser = client("127.0.0.4", certificate)
    page = browser.get(base + "/login")
    assert page.status_code == 200
    assert "Secure" in page.headers["Set-Cookie"] and "HttpOnly" in page.headers["Set-Cookie"]
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    # The request id nginx made is the one the app answers with and gunicorn logs.
    request_id = page.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert request_id in app_server.output()
    # CSRF's https rule (a same-origin Referer) applies: the app sees https, not http.
    token = csrf_from(page.text)
    refused = browser.post(
        base + "/login", data={"login": "x", "password": "y", "csrf_token": token}
    )
    assert refused.status_code == 400
    # Plain http is sent to https.
    plain = client("127.0.0.4", certificate).get(
        f"http://127.0.0.1:{http_port}/boards", allow_redirects=False
    )
    assert plain.status_code == 301 and plain.headers["Location"] == f"https://{HOST}/boards"


def test_static_files_come_from_nginx_kept_for_a_year(proxied):
    base, _http_port, _app, certificate = proxied
    browser = client("127.0.0.5", certificate)
    page = browser.get(base + "/login").text
    stylesheet = re.search(r'href="(/static/css/linli\.css\?v=[0-9a-f]{12})"', page).group(1)
    css = browser.get(base + stylesheet)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert css.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "X-Request-ID" not in css.headers  # nginx answered; the app never saw it
    assert css.content == (ROOT / "static" / "css" / "linli.css").read_bytes()
