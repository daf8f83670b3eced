"""Configuration from the environment: zero-config demo, production refusals."""

import pytest

from app import config
from app.config import ConfigError

GOOD_SECRET = "0123456789abcdef0123456789abcdef0123456789"


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
        ({"SECRET_KEY": GOOD_SECRET}, "runs on PostgreSQL"),
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
            "DATABASE_URL": "postgresql://linli@db/linli",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
    )
    assert settings["DEMO_MODE"] is False
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    allowed = config.load(
        tmp_path,
        {"LINLI_ENV": "production", "SECRET_KEY": GOOD_SECRET, "LINLI_ALLOW_SQLITE": "1"},
    )
    assert allowed["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def test_create_app_refuses_in_production(monkeypatch, tmp_path):
    from app import create_app

    monkeypatch.setenv("LINLI_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("LINLI_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError):
        create_app()


def test_unknown_time_zone_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        config.load(tmp_path, {"LINLI_TIMEZONE": "Mars/Olympus"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LINLI_CHECKIN_EARLY_MINUTES", "half an hour"),
        ("LINLI_VOID_MINUTES", "-5"),
        ("LINLI_TRUSTED_PROXIES", "9"),
    ],
)
def test_bad_numbers_stop_the_start_with_the_variable_named(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        config.load(tmp_path, {name: value})


def test_an_sms_gateway_needs_its_credentials(tmp_path):
    with pytest.raises(ConfigError, match="SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SMS_FROM"):
        config.load(tmp_path, {"SMS_GATEWAY_URL": "https://api.twilio.com"})
