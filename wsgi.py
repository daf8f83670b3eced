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
from app.cli import LinliGroup  # noqa: E402

app = create_app()
# `linli COMMAND` (pyproject.toml's script): flask's commands and Linli's, no --app needed.
cli = LinliGroup(create_app=lambda: app, load_dotenv=False, help="Linli: 邻里 volunteer credit.")
