"""The compiled catalogs (.mo) Flask-Babel reads, made from the .po files when missing or
older: a checkout or an install where nobody ran `pybabel compile` still speaks Chinese."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)


def compiled(source: Path, target: Path, fallback: Path | None = None) -> Path:
    """The folder to read the catalogs of `source` from: `target` (the same folder in a
    checkout; the instance folder for an install, which never writes into its prefix),
    with each .mo made there where missing or older than its .po. When `target` may not be
    written (a checkout owned by root, served as the linli user) and needs compiling, the
    catalogs are compiled into `fallback` instead."""
    stale = _stale(source, target)
    if fallback is not None and not all(
        _writable((target / po.relative_to(source)).parent) for po in stale
    ):
        target = fallback
    for po in _stale(source, target):
        mo = target / po.relative_to(source).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as src:
            catalog = read_po(src, locale=po.parent.parent.name)
        # Written beside and moved into place: a worker reading it never sees half a file.
        partial = mo.with_suffix(f".mo.{os.getpid()}")
        with partial.open("wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        shutil.move(partial, mo)
        log.info("compiled the %s catalog", po.parent.parent.name)
    return target


def _writable(folder: Path) -> bool:
    """Whether a file may be made in `folder` (or in the folders that would make it)."""
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK)


def _stale(source: Path, target: Path) -> list[Path]:
    """The .po files of `source` whose .mo in `target` is missing or older."""
    stale = []
    for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if not (mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime):
            stale.append(po)
    return stale
