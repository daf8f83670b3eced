"""Keep the catalogs in step with the code.

    python scripts/translations.py update   # extract strings, merge into zh and en
    python scripts/translations.py check    # exit 1 if a zh or en entry is missing or fuzzy
    python scripts/translations.py fill zh.json  # set zh translations from {"msgid": "译文"}

English msgids are the source; the en catalog carries them over as its translations so
that it is complete too; zh (the default locale) must be translated by hand in
translations/zh/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
POT = ROOT / "translations" / "messages.pot"
LOCALES = ("zh", "en")


def po_path(locale: str) -> Path:
    return ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"


def update() -> None:
    pybabel = str(Path(sys.executable).with_name("pybabel"))
    subprocess.run(  # noqa: S603
        [
            pybabel,
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(POT),
            "--no-location",
            "--sort-output",
            "--omit-header",
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    subprocess.run(  # noqa: S603
        [
            pybabel,
            "update",
            "-i",
            str(POT),
            "-d",
            "translations",
            "--no-fuzzy-matching",
            "--ignore-obsolete",
        ],
        cwd=ROOT,
        check=True,
    )
    path = po_path("en")
    with path.open("rb") as fh:
        catalog = read_po(fh, locale="en")
    for message in catalog:
        if message.id and not message.string:
            message.string = message.id
    with path.open("wb") as fh:
        write_po(fh, catalog, omit_header=False, sort_output=True)


def fill(path: Path) -> None:
    """Write zh translations given as a JSON object of msgid → text into the zh catalog."""
    import json

    given = json.loads(path.read_text(encoding="utf-8"))
    target = po_path("zh")
    with target.open("rb") as fh:
        catalog = read_po(fh, locale="zh")
    unknown = [msgid for msgid in given if msgid not in catalog]
    if unknown:
        sys.exit("not in the zh catalog (run update first): " + ", ".join(map(repr, unknown)))
    for msgid, text in given.items():
        catalog[msgid].string = text
        catalog[msgid].flags.discard("fuzzy")
    with target.open("wb") as fh:
        write_po(fh, catalog, omit_header=False, sort_output=True)


def problems() -> list[str]:
    """Entries of the pot that a catalog lacks, leaves empty, or marks fuzzy."""
    with POT.open("rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    found = []
    for locale in LOCALES:
        with po_path(locale).open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        have = {m.id: m for m in catalog if m.id}
        for msgid in sorted(wanted, key=str):
            message = have.get(msgid)
            text = msgid if isinstance(msgid, str) else msgid[0]
            if message is None:
                found.append(f"{locale}: missing: {text!r}")
            elif message.fuzzy:
                found.append(f"{locale}: fuzzy: {text!r}")
            elif not message.string or (
                isinstance(message.string, tuple) and not all(message.string)
            ):
                found.append(f"{locale}: untranslated: {text!r}")
    return found


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "update":
        update()
    elif command == "fill":
        fill(Path(sys.argv[2]))
    found = problems()
    for line in found:
        print(line)
    sys.exit(1 if found and command == "check" else 0)
