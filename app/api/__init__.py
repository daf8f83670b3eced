"""The JSON API, version 1 (/api/v1): a thin edge over the same services as the pages."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from app.api import views  # noqa: E402,F401
