"""What the bench scripts share: where they keep their databases and how they run flask."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def database_url(*, sqlite_file: str | None, pg_name: str) -> str:
    """A SQLite file under bench/work/ (with `sqlite_file`), or the PostgreSQL database
    `pg_name` at 127.0.0.1 (created when missing)."""
    if sqlite_file:
        WORK.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{WORK / sqlite_file}"
    import sqlalchemy as sa

    engine = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        found = "SELECT 1 FROM pg_database WHERE datname = :name"
        if not conn.scalar(sa.text(found), {"name": pg_name}):
            conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
    engine.dispose()
    return f"{PG_SERVER}/{pg_name}"


def environment(url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "LINLI_INSTANCE_PATH": str(WORK / "instance"),
        "SECRET_KEY": "bench-secret-not-for-production",
    }


def flask(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`flask --app wsgi …` of this checkout against `url`."""
    return subprocess.run(  # noqa: S603 (our own flask, our arguments)
        [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=environment(url),
        check=check,
    )
