"""The OpenAPI 3 document of API v1, generated with apispec from the routes' `describe`
marks and the marshmallow schemas, and a page that presents it to people (/api/docs)."""

from __future__ import annotations

import json
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.api import bp
from app.api.idempotency import HEADER, MAX_KEY
from app.api.schemas import Error
from app.models.base import MAX_ID

pages = Blueprint("api_pages", __name__)

_ERRORS = {
    400: _l("The body or query is not right (fields says which)."),
    401: _l("No token, or the token is unknown or revoked."),
    403: _l("This token may not do this."),
    404: _l("Not found, or not yours to see."),
    409: _l("A conflict, e.g. an Idempotency-Key reused with another body."),
    422: _l("A rule of the product refused it (e.g. insufficient_points)."),
    429: _l("Too many requests for this token; wait and retry."),
}


def _path(rule) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)


def build() -> dict:
    """The document, in the language of the request (summaries are translated)."""
    spec = APISpec(
        title="Linli API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": _(
                "Volunteer credit points for communities: people, awards, the ledger, "
                "activities, shops' offers and redemptions, boards. Every request but this "
                "document needs Authorization: Bearer <token> (flask create-token, or the "
                "panel). POSTs that create something need an Idempotency-Key header."
            )
        },
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=Error)
    paths: dict[str, dict] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith(f"{bp.name}."):
            continue
        doc = getattr(current_app.view_functions[rule.endpoint], "api_doc", None)
        if doc is None:
            continue
        (method,) = (rule.methods or set()) - {"HEAD", "OPTIONS"}
        parameters = [
            {
                "in": "path",
                "name": name,
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            }
            for name in sorted(rule.arguments)
        ]
        if doc["query"] is not None:
            parameters.append({"in": "query", "schema": doc["query"]})
        if doc["idempotent"]:
            parameters.append(
                {
                    "in": "header",
                    "name": HEADER,
                    "required": True,
                    "description": _(
                        "Any unique text (a UUID): the same key and body again returns the "
                        "first response; another body with this key is a 409. Kept %(hours)s "
                        "hours.",
                        hours=current_app.config["IDEMPOTENCY_HOURS"],
                    ),
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
                }
            )
        responses = {
            str(status): {
                "description": _("Done."),
                "content": {"application/json": {"schema": doc["answer"]}},
            }
            for status in (doc["status"], *doc["other_statuses"])
        }
        for status, description in _ERRORS.items():
            responses[str(status)] = {
                "description": str(description),
                "content": {"application/json": {"schema": "Error"}},
            }
        operation = {
            "operationId": rule.endpoint.split(".", 1)[1],
            "summary": str(doc["summary"]),
            "description": _("Who may call it: %(who)s.", who=str(doc["who"])),
            "parameters": parameters,
            "responses": responses,
            "security": [{"bearer": []}],
        }
        if doc["body"] is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": doc["body"]}},
            }
        paths.setdefault(_path(rule), {})[method.lower()] = operation
    for path in sorted(paths):
        spec.path(path=path, operations=paths[path])
    # Lazy translations inside schema metadata become plain text.
    return json.loads(json.dumps(spec.to_dict(), default=str))


@bp.get("/openapi.json")
def openapi_document():
    """The document itself needs no token (see base.PUBLIC_ENDPOINTS)."""
    return jsonify(build())


@pages.get("/docs")
def reference():
    document = build()
    components = document["components"]["schemas"]
    return render_template("api/docs.html", document=document, components=components)
