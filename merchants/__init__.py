"""The merchant-facing phone pages (红色合伙人)."""

from flask import Blueprint

bp = Blueprint("merchants", __name__)

from merchants import views  # noqa: E402,F401
