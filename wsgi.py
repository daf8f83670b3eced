"""Entry point: `gunicorn -c gunicorn.conf.py wsgi:app`, `flask --app wsgi ...`, and the
installed `linli ...` command (the same Flask CLI, with this app).

Settings come from the environment; a `.env` file beside this one (or the file named by
LINLI_ENV_FILE) fills in what the environment does not set (see `.env.example`).
"""

import os
from pathlib import Path

from dotenv import load_dotenv

load_dotenv(os.environ.get("LINLI_ENV_FILE") or Path(__file__).resolve().parent / ".env")

from app import create_app  # noqa: E402 (after the settings are in the environment)

app = create_app()
