"""Configuration from the environment: zero-config demo, production refusals."""

import pytest

from app.core import config
from app.core.config import ConfigError

GOOD_SECRET = "0123456789abcdef0123456789abcdef0123456789"
PUBLIC = "https://linli.example.org"


def test_no_environment_means_a_sqlite_demo_with_a_kept_secret(tmp_path):
    settings = config.load(tmp_path, {})
    assert settings["DEMO_MODE"] is True
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'linli.sqlite3'}"
    secret = settings["SECRET_KEY"]
    assert len(secret) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    # Generated once, then kept: sessions survive a restart.
    assert config.load(tmp_path, {})["SECRET_KEY"] == secret


def test_database_url_switches_to_postgresql(tmp_path):
    for given in (
        "postgresql+psycopg://u@db/linli",
        "postgresql://u@db/linli",
        "postgres://u@db/linli",
    ):
        settings = config.load(tmp_path, {"DATABASE_URL": given})
        assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/linli"


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({}, "needs SECRET_KEY"),
        ({"SECRET_KEY": "changeme"}, "default or too short"),
        ({"SECRET_KEY": "dev"}, "default or too short"),
        ({"SECRET_KEY": "short-but-not-default"}, "default or too short"),
        ({"SECRET_KEY": GOOD_SECRET}, "needs LINLI_PUBLIC_URL"),
        ({"SECRET_KEY": GOOD_SECRET, "LINLI_PUBLIC_URL": "linli"}, "needs LINLI_PUBLIC_URL"),
        ({"SECRET_KEY": GOOD_SECRET, "LINLI_PUBLIC_URL": PUBLIC}, "runs on PostgreSQL"),
    ],
)
def test_production_refuses_to_start_unsafely(tmp_path, environ, complaint):
    with pytest.raises(ConfigError, match=complaint):
        config.load(tmp_path, {"LINLI_ENV": "production", **environ})


def test_production_ignores_the_generated_demo_secret(tmp_path):
    config.load(tmp_path, {})  # a demo run left its secret behind
    with pytest.raises(ConfigError, match="needs SECRET_KEY"):
        config.load(tmp_path, {"LINLI_ENV": "production"})


def test_production_with_real_settings_turns_demo_mode_off(tmp_path):
    settings = config.load(
        tmp_path,
        {
            "LINLI_ENV": "production",
            "SECRET_KEY": GOOD_SECRET,
            "LINLI_PUBLIC_URL": PUBLIC,
            "DATABASE_URL": "postgresql://linli@db/linli",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
    )
    assert settings["DEMO_MODE"] is False
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert settings["TRUSTED_HOSTS"] == ["linli.example.org"] and settings["HSTS"] is True
    # A database error's text names no phone or code from its statement.
    assert settings["SQLALCHEMY_ENGINE_OPTIONS"]["hide_parameters"] is True
    allowed = config.load(
        tmp_path,
        {
            "LINLI_ENV": "production",
            "SECRET_KEY": GOOD_SECRET,
            "LINLI_PUBLIC_URL": PUBLIC,
            "LINLI_ALLOW_SQLITE": "1",
        },
    )
    assert allowed["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def test_create_app_refuses_in_production(monkeypatch, tmp_path):
    from app import create_app

    monkeypatch.setenv("LINLI_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("LINLI_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError):
        create_app()


@pytest.mark.parametrize("kind", ["prod", "staging", "Production!"])
def test_an_unknown_environment_is_refused_not_taken_for_demo_mode(tmp_path, kind):
    with pytest.raises(ConfigError, match="LINLI_ENV"):
        config.load(tmp_path, {"LINLI_ENV": kind, "SECRET_KEY": GOOD_SECRET})


def test_production_refuses_other_hosts_and_sends_hsts(monkeypatch, tmp_path):
    from app import create_app

    for name, value in {
        "LINLI_ENV": "production",
        "SECRET_KEY": GOOD_SECRET,
        "LINLI_PUBLIC_URL": PUBLIC,
        "LINLI_ALLOW_SQLITE": "1",
        "LINLI_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "REDIS_URL": "",
    }.items():
        monkeypatch.setenv(name, value)
    app = create_app({"RATELIMIT_STORAGE_URI": "memory://"})
    client = app.test_client()
    assert client.get("/boards", headers={"Host": "evil.example"}).status_code == 400
    page = client.get("/favicon-does-not-exist", headers={"Host": "linli.example.org"})
    assert page.status_code == 404
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_unknown_time_zone_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        config.load(tmp_path, {"LINLI_TIMEZONE": "Mars/Olympus"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LINLI_CHECKIN_EARLY_MINUTES", "half an hour"),
        ("LINLI_VOID_MINUTES", "-5"),
        ("LINLI_TRUSTED_PROXIES", "9"),
        ("LINLI_LOG_FORMAT", "xml"),
    ],
)
def test_bad_numbers_stop_the_start_with_the_variable_named(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        config.load(tmp_path, {name: value})


def test_an_sms_gateway_needs_its_credentials(tmp_path):
    with pytest.raises(ConfigError, match="SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SMS_FROM"):
        config.load(tmp_path, {"SMS_GATEWAY_URL": "https://api.twilio.com"})


def test_every_variable_read_is_in_the_readmes_table():
    """The README's Configuration table names every variable the code reads, and nothing
    the code no longer reads."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    config_source = (root / "app" / "core" / "config.py").read_text(encoding="utf-8")
    read = set(
        re.findall(r'(?:env\.\w+|_number)\(\s*(?:env,\s*)?"([A-Z][A-Z0-9_]+)"', config_source)
    )
    for other in ("gunicorn.conf.py", "wsgi.py", "app/__init__.py"):
        text = (root / other).read_text(encoding="utf-8")
        read |= set(re.findall(r'environ(?:\.get)?[\[(]"([A-Z][A-Z0-9_]+)"', text))
    assert len(read) > 35  # the patterns still find what they look for
    readme = (root / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = {
        name
        for line in table.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
    }
    assert read - documented == set(), "not in the README's table"
    assert documented - read == set(), "in the README's table but not read"
