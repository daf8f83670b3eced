"""Chat channels: the command language (parser.py, commands.py) and thin adapters (views.py:
SMS and Telegram; wechat.py: the WeChat Official Account)."""

from flask import Blueprint

bp = Blueprint("chat", __name__)

from app.chat import views, wechat  # noqa: E402,F401
