"""The volunteer-facing phone pages."""

from flask import Blueprint

bp = Blueprint("volunteers", __name__)

from volunteers import needs, resources, views  # noqa: E402,F401
