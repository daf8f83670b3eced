"""Entry point: `gunicorn -c gunicorn.conf.py wsgi:app`, `flask --app wsgi ...`, and the
installed `linli ...` command (the same Flask CLI, with this app).

Settings come from the environment; a `.env` file beside this one (or the file named by
LINLI_ENV_FILE) fills in what the environment does not set (see `.env.example`).
"""

import gc
import os
from pathlib import Path

from dotenv import load_dotenv

load_dotenv(os.environ.get("LINLI_ENV_FILE") or Path(__file__).resolve().parent / ".env")

# Importing and building the app makes a few hundred thousand objects that live as long as
# the process, and almost no garbage: the collector, run over them again and again as they
# pile up, was an eighth of the time every `flask …` command and a respawned worker pay
# (1.17 s → 1.03 s, median of 7). Frozen afterwards, they are never scanned again, and
# gunicorn's workers, forked after this, do not write to (and so copy) the pages they are on.
gc.disable()
try:
    from app import create_app  # noqa: E402 (after the settings are in the environment)

    app = create_app()
finally:
    gc.freeze()
    gc.enable()
