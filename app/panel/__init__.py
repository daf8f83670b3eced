"""The staff web panel (desktop first)."""

from flask import Blueprint

bp = Blueprint("panel", __name__)

from app.panel import (  # noqa: E402,F401
    api_tokens,
    audit_log,
    broadcasts,
    deductions,
    needs,
    organisation,
    partners,
    points,
    publication,
    residents,
    resources,
    settlement,
    staff,
    views,
)
