"""The API's marshmallow schemas: every body and query is loaded through one (unknown fields
are refused), every answer is dumped through one, and the OpenAPI document is generated from
them (app/api/docs.py), so the document cannot drift from what the views do."""

from __future__ import annotations

from datetime import UTC

from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from app.models.base import MAX_ID
from app.models.deeds import DEED_CATEGORIES
from app.models.merchants import OFFER_KINDS
from app.partners import offers
from app.points import awards

MAX_PAGE = 100

# --- fields and checks that speak the caller's language ----------------------------------
# marshmallow's own messages are English only; these say the same through Flask-Babel.


class _Said:
    default_error_messages = {
        "required": _l("This field is required."),
        "null": _l("This field cannot be null."),
        "validator_failed": _l("This value is not allowed."),
    }


class Int(_Said, fields.Integer):
    default_error_messages = {
        "invalid": _l("Not a whole number."),
        "too_large": _l("The number is too large."),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, strict=True, **kwargs)


class QueryInt(_Said, fields.Integer):
    """A whole number in a query string (text of digits; never 5.5 cut down to 5)."""

    default_error_messages = Int.default_error_messages

    def _deserialize(self, value, attr, data, **kwargs):
        if not (isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit()):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Str(_Said, fields.String):
    default_error_messages = {"invalid": _l("Not text."), "invalid_utf8": _l("Not text.")}


class Bool(_Said, fields.Boolean):
    default_error_messages = {"invalid": _l("Not true or false.")}


class When(_Said, fields.AwareDateTime):
    default_error_messages = {
        "invalid": _l("Not a date and time like 2026-11-24T09:00:00+08:00."),
        "invalid_awareness": _l("Give the time zone too, like +08:00."),
        "format": _l("Not a date and time like 2026-11-24T09:00:00+08:00."),
    }


class Moment(fields.DateTime):
    """A time in an answer: always UTC, ISO 8601 (2026-11-24T01:00:00+00:00)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None:
            value = value.astimezone(UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def between(low: int, high: int) -> validate.Range:
    return validate.Range(low, high, error=_l("Must be from {min} to {max}."))


def length(low: int, high: int) -> validate.Length:
    return validate.Length(low, high, error=_l("Must be {min} to {max} characters long."))


def one_of(choices) -> validate.OneOf:
    return validate.OneOf(list(choices), error=_l("Must be one of: {choices}."))


class Strict(Schema):
    error_messages = {"unknown": _l("Unknown field."), "type": _l("Not a JSON object.")}

    class Meta:
        unknown = RAISE


def _exactly_one(data: dict, names: tuple[str, str]) -> None:
    given = [name for name in names if data.get(name) is not None]
    if len(given) != 1:
        message = _l("Give exactly one of %(a)s and %(b)s.") % {"a": names[0], "b": names[1]}
        raise ValidationError({name: [message] for name in names})


class PageQuery(Strict):
    cursor = QueryInt(
        validate=validate.Range(
            0, MAX_ID, error=_l("This cursor is not valid; start from the first page.")
        ),
        metadata={"description": _l("next_cursor of the previous page.")},
    )
    limit = QueryInt(load_default=50, validate=between(1, MAX_PAGE))


# --- errors -------------------------------------------------------------------------------


class ErrorDetail(Schema):
    code = Str(required=True, metadata={"example": "insufficient_points"})
    message = Str(required=True)
    # "fields" in JSON; not the attribute's name, which would hide Schema.fields.
    field_errors = fields.Dict(
        data_key="fields",
        keys=Str(),
        values=fields.List(Str()),
        metadata={"description": _l("The fields that are wrong, each with its messages.")},
    )


class Error(Schema):
    error = fields.Nested(ErrorDetail, required=True)


# --- people -------------------------------------------------------------------------------


class PeopleQuery(Strict):
    phone = Str(required=True, validate=length(1, 40))


class PersonOut(Schema):
    id = Int(required=True)
    name = Str(required=True)
    phone = Str(required=True)
    community_id = Int(required=True)
    balance = Int(required=True)
    earned_this_month = Int(required=True)
    verified_minutes = Int(required=True)
    star_level = Int(required=True)


# --- points -------------------------------------------------------------------------------


class _Who(Strict):
    person_id = Int(
        validate=between(1, MAX_ID),
        metadata={"description": _l("Who: person_id or phone, one of the two.")},
    )
    phone = Str(
        validate=length(1, 40),
        metadata={"description": _l("Who: person_id or phone, one of the two.")},
    )


class AwardIn(_Who):
    points = Int(
        validate=between(1, awards.MAX_AWARD),
        metadata={"description": _l("Points from the community; at most the approval threshold.")},
    )
    rule_id = Int(
        validate=between(1, MAX_ID),
        metadata={"description": _l("A deed rule: its points, limits and evidence rule apply.")},
    )
    reason = Str(
        validate=length(0, awards.MAX_REASON),
        metadata={"description": _l("Required with points; the note (evidence) with a rule.")},
    )

    @validates_schema
    def _one_each(self, data, **_kwargs):
        _exactly_one(data, ("person_id", "phone"))
        _exactly_one(data, ("points", "rule_id"))


class AwardOut(Schema):
    transaction_id = Int(required=True)
    person_id = Int(required=True)
    points = Int(required=True)
    reason = Str(required=True)
    rule_id = Int(allow_none=True)
    balance = Int(required=True, metadata={"description": _l("The balance after.")})
    created_at = Moment(required=True)


class AdjustmentIn(_Who):
    points = Int(
        required=True,
        validate=[between(-100_000, 100_000), validate.NoneOf([0], error=_l("Must not be 0."))],
        metadata={"description": _l("Positive or negative; above the threshold it waits.")},
    )
    reason = Str(required=True, validate=length(1, 200))

    @validates_schema
    def _one_person(self, data, **_kwargs):
        _exactly_one(data, ("person_id", "phone"))


class AdjustmentOut(Schema):
    id = Int(required=True)
    person_id = Int(required=True)
    points = Int(required=True)
    reason = Str(required=True)
    status = Str(
        required=True,
        validate=one_of(["posted", "pending", "rejected"]),
        metadata={"description": _l("pending: waits for a second staff member to approve.")},
    )
    transaction_id = Int(allow_none=True)
    created_at = Moment(required=True)


class LedgerQuery(PageQuery):
    person_id = QueryInt(
        validate=between(1, MAX_ID),
        metadata={"description": _l("Staff: whose ledger. A volunteer's token reads its own.")},
    )


class LedgerLine(Schema):
    id = Int(required=True)
    transaction_id = Int(required=True)
    kind = Str(required=True)
    amount = Int(required=True)
    memo = Str(required=True)
    reverses_transaction_id = Int(allow_none=True)
    created_at = Moment(required=True)


class LedgerPage(Schema):
    person_id = Int(required=True)
    balance = Int(required=True)
    items = fields.List(fields.Nested(LedgerLine), required=True)
    next_cursor = Int(
        allow_none=True,
        required=True,
        metadata={"description": _l("The cursor of the next page; null on the last page.")},
    )


# --- activities ---------------------------------------------------------------------------


class ActivityQuery(PageQuery):
    community_id = QueryInt(validate=between(1, MAX_ID))


class ActivityIn(Strict):
    community_id = Int(required=True, validate=between(1, MAX_ID))
    title = Str(required=True, validate=length(1, 100))
    starts_at = When(required=True)
    ends_at = When(required=True)
    description = Str(load_default="", validate=length(0, 2000))
    place = Str(load_default="", validate=length(0, 200))
    capacity = Int(load_default=None, allow_none=True, validate=between(1, 10000))
    points_rule = Str(load_default="fixed", validate=one_of(["fixed", "per_hour"]))
    points = Int(load_default=0, validate=between(0, 1000))
    needs_approval = Bool(load_default=False)
    signup_required = Bool(load_default=False)
    team_id = Int(load_default=None, allow_none=True, validate=between(1, MAX_ID))
    category = Str(load_default="other", validate=one_of(list(DEED_CATEGORIES)))


class ActivityOut(Schema):
    id = Int(required=True)
    community_id = Int(required=True)
    team_id = Int(allow_none=True)
    title = Str(required=True)
    description = Str(required=True)
    place = Str(required=True)
    category = Str(required=True)
    starts_at = Moment(required=True)
    ends_at = Moment(required=True)
    capacity = Int(allow_none=True)
    confirmed = Int(required=True)
    points_rule = Str(required=True)
    points = Int(required=True)
    needs_approval = Bool(required=True)
    signup_required = Bool(required=True)
    cancelled = Bool(required=True)


class ActivityPage(Schema):
    items = fields.List(fields.Nested(ActivityOut), required=True)
    next_cursor = Int(
        allow_none=True,
        required=True,
        metadata={"description": _l("The cursor of the next page; null on the last page.")},
    )


class AttendanceIn(_Who):
    @validates_schema
    def _one_person(self, data, **_kwargs):
        _exactly_one(data, ("person_id", "phone"))


class AttendanceOut(Schema):
    id = Int(required=True)
    activity_id = Int(required=True)
    person_id = Int(required=True)
    status = Str(required=True)
    method = Str(required=True)
    checked_in_at = Moment(required=True)
    checked_out_at = Moment(allow_none=True)
    already = Bool(
        required=True, metadata={"description": _l("True: the person was already checked in.")}
    )


class CheckinCodeQuery(Strict):
    kind = Str(load_default="in", validate=one_of(["in", "out"]))


class CheckinCodeOut(Schema):
    activity_id = Int(required=True)
    kind = Str(required=True)
    code = Str(required=True, metadata={"description": _l("4 digits, for 签到 1234.")})
    token = Str(required=True, metadata={"description": _l("The QR code's token.")})
    url = Str(required=True, metadata={"description": _l("What the QR code opens.")})
    valid_for_seconds = Int(required=True)


# --- offers and redemptions ---------------------------------------------------------------


class OfferQuery(PageQuery):
    merchant_id = QueryInt(validate=between(1, MAX_ID))


class OfferIn(Strict):
    merchant_id = Int(
        validate=between(1, MAX_ID),
        metadata={"description": _l("Required for staff and for operators of several shops.")},
    )
    title = Str(required=True, validate=length(1, 100))
    kind = Str(required=True, validate=one_of(list(OFFER_KINDS)))
    points_cost = Int(required=True, validate=between(1, offers.MAX_COST))
    description = Str(load_default="", validate=length(0, 1000))
    money_value_fen = Int(load_default=None, allow_none=True, validate=between(0, 10_000_000))
    stock = Int(load_default=None, allow_none=True, validate=between(0, 1_000_000))
    daily_quota = Int(load_default=None, allow_none=True, validate=between(1, 1_000_000))
    monthly_limit = Int(load_default=None, allow_none=True, validate=between(1, 1000))
    max_quantity = Int(load_default=1, validate=between(1, offers.MAX_QUANTITY))
    valid_from = When(load_default=None, allow_none=True)
    valid_to = When(load_default=None, allow_none=True)
    active = Bool(load_default=True)


class OfferOut(Schema):
    id = Int(required=True)
    merchant_id = Int(required=True)
    title = Str(required=True)
    kind = Str(required=True)
    description = Str(required=True)
    points_cost = Int(required=True)
    money_value_fen = Int(allow_none=True)
    stock = Int(allow_none=True)
    daily_quota = Int(allow_none=True)
    monthly_limit = Int(allow_none=True)
    max_quantity = Int(required=True)
    valid_from = Moment(allow_none=True)
    valid_to = Moment(allow_none=True)
    active = Bool(required=True)
    review = Str(
        required=True, metadata={"description": _l("live, pending (staff review) or rejected.")}
    )


class OfferPage(Schema):
    items = fields.List(fields.Nested(OfferOut), required=True)
    next_cursor = Int(
        allow_none=True,
        required=True,
        metadata={"description": _l("The cursor of the next page; null on the last page.")},
    )


class RedemptionIn(Strict):
    code = Str(
        required=True,
        validate=length(1, 300),
        metadata={"description": _l("The volunteer's 8 digits or the token of their QR code.")},
    )
    offer_id = Int(required=True, validate=between(1, MAX_ID))
    quantity = Int(load_default=1, validate=between(1, offers.MAX_QUANTITY))
    merchant_id = Int(
        validate=between(1, MAX_ID),
        metadata={
            "description": _l("Optional: the offer names its shop; if given, it must match.")
        },
    )


class RedemptionOut(Schema):
    id = Int(required=True)
    receipt_no = Str(required=True)
    merchant_id = Int(required=True)
    offer_id = Int(required=True)
    volunteer = Str(required=True, metadata={"description": _l("Masked name, 张*.")})
    quantity = Int(required=True)
    points = Int(required=True)
    created_at = Moment(required=True)
    voided_at = Moment(allow_none=True)
    void_reason = Str(allow_none=True)


class RedemptionQuery(PageQuery):
    merchant_id = QueryInt(validate=between(1, MAX_ID))
    day = Str(
        validate=validate.Regexp(
            r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", error=_l("A day like 2026-11-24.")
        ),
        metadata={
            "description": _l(
                "Only this day (the local date the shop's receipts use), e.g. 2026-11-24."
            )
        },
    )


class RedemptionPage(Schema):
    items = fields.List(fields.Nested(RedemptionOut), required=True)
    next_cursor = Int(
        allow_none=True,
        required=True,
        metadata={"description": _l("The cursor of the next page; null on the last page.")},
    )


class VoidIn(Strict):
    reason = Str(required=True, validate=length(1, 200))


class RedemptionCodeOut(Schema):
    code = Str(required=True, metadata={"description": _l("8 digits to read out.")})
    token = Str(required=True, metadata={"description": _l("What the QR code holds.")})
    expires_at = Moment(required=True)


# --- rankings -----------------------------------------------------------------------------


class RankingsQuery(Strict):
    board = Str(
        load_default="people",
        validate=one_of(["people", "households", "teams"]),
        metadata={"description": _l("households and teams: only with scope=community:ID.")},
    )
    period = Str(load_default="month", validate=one_of(["month", "last_month", "year", "all"]))
    scope = Str(
        load_default="street",
        validate=validate.Regexp(
            r"^(street|(community|grid|team):[1-9][0-9]{0,8})$",
            error=_l("Must be street, community:ID, grid:ID or team:ID."),
        ),
        metadata={"description": _l("street, community:ID, grid:ID or team:ID.")},
    )
    limit = QueryInt(load_default=50, validate=between(1, MAX_PAGE))


class RankingLine(Schema):
    position = Int(required=True, metadata={"description": _l("Competition places: 1, 1, 3.")})
    name = Str(
        required=True,
        metadata={"description": _l("Masked (张*明) or anonymous; a household's address; a team.")},
    )
    score = fields.Float(
        required=True,
        metadata={"description": _l("Points earned; for households, per member (家风指数).")},
    )
    members = Int(allow_none=True, metadata={"description": _l("Households and teams.")})
    honours = fields.List(Str(), required=True)


class Rankings(Schema):
    board = Str(required=True)
    period = Str(required=True)
    scope = Str(required=True)
    items = fields.List(fields.Nested(RankingLine), required=True)


# --- needs (需求) ------------------------------------------------------------------------

NEED_VIEWS = ("open", "mine", "taken", "staff")


class NeedQuery(PageQuery):
    view = Str(
        validate=one_of(NEED_VIEWS),
        metadata={
            "description": _l(
                "open (a volunteer's default): requests of the caller's grid they may take "
                "(whole=true: the community's); mine: the caller's own; taken: what the "
                "caller took; staff (a staff token's default): the active requests of the "
                "caller's communities."
            )
        },
    )
    whole = Bool(load_default=False)
    status = Str(
        validate=one_of(["open", "taken", "done", "disputed", "confirmed", "closed", "merged"])
    )


class NeedIn(Strict):
    text = Str(required=True, validate=length(1, 300))
    kind_id = Int(
        load_default=None,
        allow_none=True,
        validate=between(1, MAX_ID),
        metadata={"description": _l("GET /need-kinds; null: the kind the words name.")},
    )
    place_note = Str(load_default="", validate=length(0, 100))
    phone = Str(
        load_default=None,
        allow_none=True,
        validate=length(1, 30),
        metadata={"description": _l("For a resident (staff, or the 三长 of their home).")},
    )


class NeedStepIn(Strict):
    note = Str(
        load_default="",
        validate=length(0, 200),
        metadata={"description": _l("done: what was done; dispute: what is still wrong.")},
    )


class NeedRatingIn(Strict):
    rating = Int(required=True, validate=between(1, 5))
    comment = Str(load_default="", validate=length(0, 200))


class NeedOut(Schema):
    id = Int(required=True)
    community_id = Int(required=True)
    kind_id = Int(required=True)
    kind = Str(required=True)
    text = Str(required=True)
    place = Str(
        required=True, metadata={"description": _l("Down to the room only for those close to it.")}
    )
    grid_id = Int(allow_none=True, required=True)
    status = Str(required=True)
    step = Str(required=True, metadata={"description": _l("Who looks at it while it is open.")})
    step_due_at = fields.AwareDateTime(allow_none=True, required=True, default_timezone=UTC)
    mine = Bool(required=True)
    taken_by_me = Bool(required=True)
    taker_name = Str(allow_none=True, required=True)
    points = Int(required=True)
    paid = Bool(required=True)
    rating = Int(allow_none=True, required=True)
    created_at = fields.AwareDateTime(required=True, default_timezone=UTC)
    done_at = fields.AwareDateTime(allow_none=True, required=True, default_timezone=UTC)


class NeedPage(Schema):
    items = fields.List(fields.Nested(NeedOut), required=True)
    next_cursor = Int(allow_none=True, required=True)


class NeedKindOut(Schema):
    id = Int(required=True)
    name = Str(required=True)
    points = Int(required=True)
    step_hours = Int(required=True)


class NeedKindList(Schema):
    items = fields.List(fields.Nested(NeedKindOut), required=True)
