"""Linli as an installable package: `pip install .` gives a `linli` command and a server
that finds its templates, translations and migrations outside the checkout (issue 18)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.core import translations
from tests.servers import ROOT, get, wait_until_up

RESOURCE_FOLDERS = ("templates", "static", "translations", "migrations")


def build_wheel(folder: Path) -> Path:
    out = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(folder)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = folder.glob("linli-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def resource_files() -> set[str]:
    found = set()
    for folder in RESOURCE_FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".mo":
                found.add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.once
def test_every_template_static_file_catalog_and_migration_is_in_the_wheel(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    prefix = "linli-0.1.0.data/data/share/linli/"
    shipped = {name[len(prefix) :] for name in names if name.startswith(prefix)}
    missing = resource_files() - shipped
    assert not missing, f"add these folders to pyproject's data-files: {sorted(missing)}"
    assert "wsgi.py" in names and "app/__init__.py" in names and "volunteers/views.py" in names
    assert "gunicorn.conf.py" in shipped
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "linli = app.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.once
def test_pip_install_gives_a_linli_command_and_a_server_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    install = subprocess.run(  # noqa: S603
        [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    away = tmp_path / "elsewhere"  # nothing of the checkout here
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINLI_", "DATABASE_URL"))}
    env.update({"LINLI_INSTANCE_PATH": str(tmp_path / "instance"), "PYTHONPATH": ""})

    def linli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603
            [str(venv / "bin" / "linli"), *args], cwd=away, env=env, capture_output=True, text=True
        )

    listed = linli("--help")
    assert listed.returncode == 0, listed.stderr
    assert "ledger-check" in listed.stdout and "outbox" in listed.stdout
    assert linli("init-db").returncode == 0
    created = linli("create-community", "安装社区")
    assert created.returncode == 0 and "安装社区" in created.stdout, created.stderr
    checked = linli("ledger-check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The installed server: its pages (templates, Chinese from the compiled catalog), its
    # static files and its migrations' head, from <prefix>/share/linli.
    port = __import__("tests.conftest", fromlist=["free_port"]).free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603
            [
                str(venv / "bin" / "gunicorn"),
                "-c",
                str(venv / "share" / "linli" / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{port}",
                "wsgi:app",
            ],
            cwd=away,
            env={**env, "LINLI_WORKERS": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, server, log)
        status, page = get(url + "/")
        assert status == 200 and "社区志愿服务，有记录，有回报" in page  # the zh catalog
        assert get(url + "/static/css/linli.css")[0] == 200
        assert get(url + "/readyz")[1].startswith('{"checks":{"database":"ok"}')
    finally:
        server.terminate()
        server.wait(30)


def test_catalogs_are_compiled_when_missing_or_older_than_their_source(tmp_path):
    source = tmp_path / "translations"
    for locale in ("zh", "en"):
        folder = source / locale / "LC_MESSAGES"
        folder.mkdir(parents=True)
        po = ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"
        (folder / "messages.po").write_bytes(po.read_bytes())
    # A checkout nobody ran `pybabel compile` in: compiled where it is.
    assert translations.compiled(source, source) == source
    mo = source / "zh" / "LC_MESSAGES" / "messages.mo"
    assert mo.stat().st_size > 1000
    # An install: compiled under the instance folder, its prefix left alone.
    target = translations.compiled(source, tmp_path / "instance" / "translations")
    assert (target / "zh" / "LC_MESSAGES" / "messages.mo").read_bytes() == mo.read_bytes()
    # A newer .po (an upgrade) is compiled again; an up-to-date one is left as it is.
    stamp = mo.stat().st_mtime_ns
    translations.compiled(source, source)
    assert mo.stat().st_mtime_ns == stamp
    po = source / "zh" / "LC_MESSAGES" / "messages.po"
    os.utime(po, ns=(stamp + 10**9, stamp + 10**9))
    translations.compiled(source, source)
    assert mo.stat().st_mtime_ns > stamp


def test_the_systemd_units_run_commands_that_exist(app):
    """Every `linli …` a unit or timer of deploy/ runs is a command of this app, and the web
    unit starts gunicorn with the repository's settings."""
    deploy = ROOT / "deploy"
    commands = set(app.cli.commands) | {"db"}
    from app.cli import bp as cli_bp

    commands |= set(cli_bp.cli.commands)
    run = []
    for timer in deploy.glob("*.timer"):
        (unit,) = [
            line.split("=", 1)[1]
            for line in timer.read_text().splitlines()
            if line.startswith("Unit=")
        ]
        assert unit.startswith("linli@") and unit.endswith(".service"), timer.name
        run.append(unit.removeprefix("linli@").removesuffix(".service"))
    for service in deploy.glob("*.service"):
        for line in service.read_text().splitlines():
            if line.startswith("ExecStart=/opt/linli/.venv/bin/linli ") and "%i" not in line:
                run.append(line.split("/bin/linli ", 1)[1].split()[0])
    assert sorted(run) == ["close-attendances", "ledger-check", "outbox", "purge"]
    assert all(command in commands for command in run), commands
    web = (deploy / "linli-web.service").read_text()
    assert "ExecStart=/opt/linli/.venv/bin/gunicorn -c /opt/linli/gunicorn.conf.py wsgi:app" in web


def test_the_systemd_units_are_valid_for_systemd(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in (ROOT / "deploy").iterdir():
        if unit.suffix in (".service", ".timer"):
            shutil.copy(unit, tmp_path / unit.name)
    units = sorted(str(p) for p in tmp_path.iterdir() if p.name != "linli@.service")
    out = subprocess.run(  # noqa: S603
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, cwd=tmp_path
    )
    # The one complaint allowed: this machine has no /opt/linli.
    problems = [
        line
        for line in (out.stdout + out.stderr).splitlines()
        if line.strip() and "/opt/linli/.venv/bin/" not in line
    ]
    assert not problems, problems
