"""Phone numbers as people type them → E.164 ('+8613800138000'), the identity of a person."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from flask_babel import lazy_gettext as _l
from phonenumbers import PhoneNumberType

from app.core.errors import InvalidPhone

DEFAULT_REGION = "CN"
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―.()（）·]")


def normalize_phone(raw: str | None, region: str = DEFAULT_REGION) -> str:
    """Parse what a person typed into E.164, or raise InvalidPhone saying why.

    Accepts spaces, dashes and brackets, full-width digits (１３８…), '+86', '86' and
    '0086' prefixes. Only mobile numbers are identities: codes and messages go by SMS.
    """
    text = unicodedata.normalize("NFKC", raw or "").strip()
    text = _SEPARATORS.sub("", text)
    if not text:
        raise InvalidPhone(_l("Please enter a phone number."), field="phone")
    if text.startswith("00"):
        text = "+" + text[2:]
    elif region == "CN" and text.isdigit() and len(text) == 13 and text.startswith("86"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(
            _l("“%(value)s” is not a phone number."), field="phone", value=raw
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(_l("“%(value)s” is not a valid phone number."), field="phone", value=raw)
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidPhone(
            _l("“%(value)s” is not a mobile number; codes are sent by SMS."),
            field="phone",
            value=raw,
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """The number as people in its country write it (138 0013 8000)."""
    number = phonenumbers.parse(e164)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def mask_phone(e164: str) -> str:
    """138****8000: enough for a person to recognise their own number."""
    national = re.sub(r"\D", "", display_phone(e164))
    if len(national) < 7:
        return "*" * len(national)
    return national[:3] + "*" * (len(national) - 7) + national[-4:]
