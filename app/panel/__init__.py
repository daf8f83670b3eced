"""The staff web panel (desktop first)."""

from flask import Blueprint

bp = Blueprint("panel", __name__)

from app.panel import audit_log, organisation, points, residents, views  # noqa: E402,F401
