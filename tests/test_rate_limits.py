"""Sign-in attempts are rate limited per address."""

from app import create_app
from tests.conftest import csrf_from


def test_password_guessing_is_slowed_down(app):
    limited = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    client = limited.test_client()
    token = csrf_from(client.get("/login").text)
    statuses = [
        client.post(
            "/login", data={"login": "nobody", "password": "guess", "csrf_token": token}
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    page = client.post("/login", data={"login": "nobody", "password": "x", "csrf_token": token})
    assert "尝试次数过多" in page.text
    # Looking at the page is never limited.
    assert client.get("/login").status_code == 200


def test_one_address_cannot_ask_for_codes_without_end(app):
    limited = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    client = limited.test_client()
    token = csrf_from(client.get("/signin").text)
    # Invalid numbers send nothing, but they count: the limit is on asking.
    statuses = [
        client.post("/signin", data={"phone": "12345", "csrf_token": token}).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]
