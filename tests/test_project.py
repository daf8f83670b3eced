"""Project rules that are cheap to check mechanically."""

import re
from pathlib import Path

from flask_migrate import check as migrations_check

ROOT = Path(__file__).resolve().parent.parent


def test_catalogs_are_complete():
    import importlib.util

    spec = importlib.util.spec_from_file_location("translations", ROOT / "scripts/translations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.problems() == []


def test_only_the_unit_of_work_commits():
    """Services flush; exactly one place commits (app/database.py)."""
    offenders = []
    for folder in ("app", "volunteers", "merchants"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"\bcommit\(\)", line) and path.name != "database.py":
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_models_and_migrations_agree(app):
    """The same as `flask db check`: no model change is missing a migration."""
    with app.app_context():
        migrations_check()


def test_now_comes_only_from_the_apps_clock():
    """Every "now" is app/clock.py's, so tests can set it and no path reads the real day.

    The rate limits' windows are the `limits` library's own elapsed-time clock (time.time),
    not a date, and are given a clock in tests (app/rate_limits.py).
    """
    reads = re.compile(r"datetime\.now\(|\.utcnow\(|date\.today\(|datetime\.today\(")
    offenders = []
    for folder in ("app", "volunteers", "merchants", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "app/clock.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if reads.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
