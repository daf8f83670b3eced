"""The JSON API, version 1 (/api/v1): a thin edge over the same services as the pages.

One module per area (people, points, activities, shops, me, rankings); `base` holds the
bearer token and who-may-do-what, `schemas` every body, query and answer, `idempotency` the
Idempotency-Key store, `docs` the OpenAPI document and the page that reads it."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from app.api import (  # noqa: E402,F401
    activities,
    base,
    docs,
    me,
    needs,
    people,
    points,
    rankings,
    shops,
)
