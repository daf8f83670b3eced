"""Domain errors, raised by services.

Services raise a `LinliError` subclass with a stable `code` and a translatable message; each
edge decides how to show it: an HTML page or flash, a JSON body, a CLI message, a chat reply
(the web's handlers are in app/web.py).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l


class LinliError(Exception):
    """Base of every error a person may be shown. `message` is a lazy translation."""

    code = "error"
    http_status = 400
    default_message = _l("Something is not right with this request.")

    def __init__(self, message=None, *, field: str | None = None, strikes=(), **params):
        self.message = message if message is not None else self.default_message
        self.field = field
        self.params = params
        # Wrong guesses at a short code this refusal counts against (app.strikes): the edge
        # records them after rolling the request's work back, so they are kept.
        self.strikes = tuple(strikes)
        super().__init__(str(self))

    def __str__(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text

    def to_dict(self) -> dict:
        body: dict = {"code": self.code, "message": str(self)}
        if self.field:
            body["fields"] = {self.field: [str(self)]}
        return body


class InvalidInput(LinliError):
    code = "invalid_input"
    http_status = 400


class InvalidPhone(InvalidInput):
    code = "invalid_phone"
    default_message = _l("This is not a valid mobile phone number.")


class DuplicatePhone(LinliError):
    code = "duplicate_phone"
    http_status = 409
    default_message = _l("Someone with this phone number is already registered.")


class DuplicateName(LinliError):
    code = "duplicate_name"
    http_status = 409
    default_message = _l("“%(name)s” is already taken here.")


class InvalidAmount(InvalidInput):
    code = "invalid_amount"
    default_message = _l("Points must be a whole number other than zero.")


class NotFound(LinliError):
    code = "not_found"
    http_status = 404
    default_message = _l("Not found.")


class UnknownAccount(NotFound):
    code = "unknown_account"
    default_message = _l("There is no such points account.")


class NotPermitted(LinliError):
    code = "not_permitted"
    http_status = 403
    default_message = _l("You are not allowed to do this.")


class BusinessRuleError(LinliError):
    """The input is well-formed but a rule of the product refuses it."""

    code = "refused"
    http_status = 422


class InsufficientPoints(BusinessRuleError):
    code = "insufficient_points"
    default_message = _l("Not enough points: the balance is %(balance)s, %(needed)s are needed.")


class BudgetExceeded(BusinessRuleError):
    code = "budget_exceeded"
    default_message = _l(
        "This would pass the community's monthly budget of %(budget)s points "
        "(%(issued)s already issued this month); an administrator must issue it."
    )


class AlreadyReversed(BusinessRuleError):
    code = "already_reversed"
    http_status = 409
    default_message = _l("This transaction has already been reversed.")


class IdempotencyConflict(LinliError):
    code = "idempotency_conflict"
    http_status = 409
    default_message = _l("This request key was already used for a different request.")


class CodeExpired(BusinessRuleError):
    """A one-time or rotating code that was good once and is not any more."""

    code = "code_expired"
    default_message = _l("This code has expired. Ask for a new one.")


class InvalidCode(BusinessRuleError):
    """A code that was never good: wrong digits, a forged or tampered token."""

    code = "invalid_code"
    default_message = _l("This code is not valid.")


class TooManyAttempts(BusinessRuleError):
    code = "too_many_attempts"
    http_status = 429
    default_message = _l("Too many attempts. Please wait a minute and try again.")


class CodeRecentlySent(TooManyAttempts):
    """A code went to this phone a moment ago: use that one (or wait to ask again)."""

    code = "code_recently_sent"


class AlreadyDone(BusinessRuleError):
    """The same thing done twice (a second scan); the first still stands."""

    code = "already_done"
    http_status = 409


class ImportFailed(InvalidInput):
    code = "import_failed"
    default_message = _l("The file could not be imported.")
