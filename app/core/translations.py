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


def compiled(source: Path, target: Path) -> Path:
    """Compile the catalogs of `source` into `target` (the same folder in a checkout; the
    instance folder for an install, which never writes into its prefix) where missing or
    older than their .po; returns `target`, the folder to read."""
    for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
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
