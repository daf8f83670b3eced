import pytest

from app.core.errors import InvalidPhone
from app.core.phones import display_phone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+8613800138000",
        "8613800138000",
        "0086 138 0013 8000",
        "１３８００１３８０００",
        "(+86) 138.0013.8000",
        " 138\u30000013\u30008000 ",
    ],
)
def test_what_people_type_becomes_e164(typed):
    assert normalize_phone(typed) == "+8613800138000"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "请输入手机号"),
        ("   ", "请输入手机号"),
        ("1380013", "不是有效的电话号码"),
        ("abc", "不是电话号码"),
        ("138001380001234", "不是有效的电话号码"),
        ("010 6552 9988", "不是手机号码"),
    ],
)
def test_bad_numbers_say_why(app, typed, reason):
    with app.app_context(), pytest.raises(InvalidPhone, match=reason) as info:
        normalize_phone(typed)
    assert info.value.field == "phone"


def test_display_and_mask():
    assert display_phone("+8613800138000") == "138 0013 8000"
    assert mask_phone("+8613800138000") == "138****8000"
