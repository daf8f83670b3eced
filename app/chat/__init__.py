"""Chat channels: the command language (parser.py, commands.py) and thin adapters (views.py)."""

from flask import Blueprint

bp = Blueprint("chat", __name__)

from app.chat import views  # noqa: E402,F401
