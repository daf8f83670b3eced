"""The command language: every form of every command, and no input that raises."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.chat.parser import Command, digits, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("帮助", Command("help")),
        ("HELP", Command("help")),
        ("ｈｅｌｐ", Command("help")),
        ("?", Command("help")),
        ("积分", Command("balance")),
        ("余额", Command("balance")),
        ("bal", Command("balance")),
        ("Bal", Command("balance")),
        ("ＢＡＬ", Command("balance")),
        ("/bal", Command("balance")),
        ("/bal@LinliBot", Command("balance")),
        ("记录", Command("history")),
        ("HIST", Command("history")),
        ("排行", Command("top")),
        ("top", Command("top")),
        ("签到 4821", Command("checkin", "4821")),
        ("签到4821", Command("checkin", "4821")),
        ("签到　４８２１", Command("checkin", "4821")),
        ("CHECKIN 4821", Command("checkin", "4821")),
        ("check-in 4821", Command("checkin", "4821")),
        ("签退 4821", Command("checkout", "4821")),
        ("checkout 4821", Command("checkout", "4821")),
        ("活动", Command("events")),
        ("EVENTS", Command("events")),
        ("报名 2", Command("join", "2")),
        ("JOIN 2", Command("join", "2")),
        ("兑换码", Command("code")),
        ("code", Command("code")),
        ("商家", Command("shops")),
        ("SHOPS", Command("shops")),
        ("绑定 13800138000", Command("link", "13800138000")),
        ("LINK 138 0013 8000", Command("link", "138 0013 8000")),
        ("退订", Command("quiet")),
        ("TD", Command("quiet")),
        ("全部退订", Command("stop")),
        ("STOP", Command("stop")),
        ("订阅", Command("start")),
        ("/start ci_abc", Command("start", "ci_abc")),
        ("  积分  ", Command("balance")),
        ("balance", Command("balance")),
        ("topic", Command("unknown", "topic")),
        ("你好", Command("unknown", "你好")),
        ("", Command("unknown", "")),
    ],
)
def test_every_form(text, expected):
    assert parse(text) == expected


def test_digits_of_an_argument():
    assert digits("12 34") == "1234" and digits("#4821") == "4821" and digits("abc") == ""


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_no_input_raises(text):
    command = parse(text)
    assert isinstance(command.name, str) and isinstance(command.argument, str)


def test_register_keeps_the_name_as_typed_and_language_words_are_commands():
    assert parse("注册 王秀英") == Command("register", "王秀英")
    assert parse("REGISTER  Wang   Xiuying 2").typed == "Wang Xiuying 2"
    assert parse("ＲＥＧＩＳＴＥＲ Ｗａｎｇ").typed == "Wang"  # full width, as a phone may send
    assert parse("EN") == Command("english")
    assert parse("english") == Command("english")
    assert parse("中文") == Command("chinese")
    assert parse("events").name == "events"  # not "en" + "vents"
    assert parse("enter").name == "unknown"


@pytest.mark.parametrize(
    ("text", "name", "said"),
    [
        ("求助 厨房水管漏水，请帮忙！", "need", "厨房水管漏水，请帮忙！"),
        ("求助厨房水管漏水（3号楼）", "need", "厨房水管漏水（3号楼）"),
        ("ＨＥＬＰ　the tap：leaks", "help", "the tap：leaks"),
        ("好人好事  帮王奶奶买菜。  ", "deed", "帮王奶奶买菜。"),
        ("异议 义诊只记了1小时，应为2小时", "object", "义诊只记了1小时，应为2小时"),
        ("2 水管还在漏，地上有水", "unknown", "2 水管还在漏，地上有水"),
        ("/help@LinliBot the tap", "help", "the tap"),
    ],
)
def test_free_words_are_kept_as_written_full_width_punctuation_and_all(text, name, said):
    command = parse(text)
    assert (command.name, command.said) == (name, said)
