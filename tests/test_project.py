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
    """Every "now" is app/core/clock.py's, so tests can set it and no path reads the real day
    (the database's rate-limit windows too; a request's duration uses perf_counter)."""
    reads = re.compile(r"datetime\.now\(|\.utcnow\(|date\.today\(|datetime\.today\(|time\.time\b")
    offenders = []
    for folder in ("app", "volunteers", "merchants", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "app/core/clock.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if reads.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


SERVICES = ("core", "points", "partners", "activities", "people", "channels", "models")
EDGE_NAMES = {"request", "session", "g", "render_template", "render_template_string", "flash"}


def test_nothing_below_the_edges_touches_the_request_or_renders():
    """Services take what they need as arguments (the import contracts in pyproject.toml,
    run by ./test as lint-imports, cover modules; these are names inside flask)."""
    import ast

    offenders = []
    for wing in SERVICES:
        for path in (ROOT / "app" / wing).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "flask":
                    bad = sorted(EDGE_NAMES & {alias.name for alias in node.names})
                    if bad:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {bad}")
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "flask"
                    and node.attr in EDGE_NAMES
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: flask.{node.attr}")
    assert offenders == []


def test_only_the_ledger_writes_ledger_rows():
    """Points move only through app/points/ledger.py: no other code builds, inserts, updates
    or deletes transactions, entries, period totals, balances or the boards' counts (which
    the ledger keeps through app/points/board_counts.py)."""
    tables = "LedgerEntry|LedgerTransaction|Account|PeriodTotal|BoardCount"
    writes = re.compile(
        r"LedgerEntry\(|LedgerTransaction\(|PeriodTotal\(|BoardCount\("
        rf"|\b(insert|update|delete)\(({tables})\b"
        r"|\.balance\s*[+-]?=[^=]|\.community_id\s*=[^=].*wallet|wallet.*\.community_id\s*=[^=]"
    )
    # A Core table of theirs is for reading (the boards' top) in a file that builds no
    # INSERT, UPDATE or DELETE at all; beside one it could be written through.
    core_table = re.compile(rf"\btable_of\(({tables})\b")
    builds_writes = re.compile(r"\b(insert|update|delete)\(")
    keepers = {ROOT / "app/points/ledger.py", ROOT / "app/points/board_counts.py"}
    offenders = []
    for folder in ("app", "volunteers", "merchants"):
        for path in (ROOT / folder).rglob("*.py"):
            if path in keepers or "models" in path.parts:
                continue
            text = path.read_text()
            writer = builds_writes.search(text) is not None
            for number, line in enumerate(text.splitlines(), 1):
                if writes.search(line) or (writer and core_table.search(line)):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
