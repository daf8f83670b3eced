"""The volunteer's own things: a fresh redemption code, as the 兑换码 (CODE) command gives."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.api import bp
from app.api.base import describe, dump, volunteer
from app.api.idempotency import idempotent
from app.api.schemas import RedemptionCodeOut
from app.core import clock
from app.partners import personal_codes


@bp.post("/me/redemption-code")
@describe(
    _l("A fresh code for a shop to scan or type (single use, 5 minutes)"),
    who=_l("volunteer"),
    answer=RedemptionCodeOut,
    status=201,
    idempotent=True,
)
@idempotent
def redemption_code():
    person = volunteer()
    issued = personal_codes.issue(
        person, now=clock.now(), lifetime=personal_codes.READ_OUT_LIFETIME
    )
    return dump(
        RedemptionCodeOut,
        {"code": issued.digits, "token": issued.token, "expires_at": issued.expires_at},
    ), 201
