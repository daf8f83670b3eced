"""Reading a text message as a command: Chinese or English, full- or half-width, any case.

`parse` never raises: anything it cannot read is the command "unknown", answered with a
short help.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Every spelling of each command; the first English one is its name.
KEYWORDS = {
    "help": ("帮助", "help", "?", "？", "菜单"),
    "balance": ("积分", "余额", "bal", "balance"),
    "history": ("记录", "hist", "history"),
    "top": ("排行", "排名", "top"),
    "checkin": ("签到", "checkin", "check-in"),
    "checkout": ("签退", "checkout", "check-out"),
    "events": ("活动", "events"),
    "join": ("报名", "join"),
    "code": ("兑换码", "code"),
    "shops": ("商家", "shops"),
    "link": ("绑定", "link"),
    # 退订 (TD, what Chinese carriers' group texts say to reply) stops group messages; STOP
    # stops every message; START / 订阅 brings all back.
    "quiet": ("退订", "td"),
    "stop": ("全部退订", "stop"),
    "start": ("订阅", "start"),
    "object": ("异议", "object"),
    "register": ("注册", "register"),
    "deed": ("好人好事", "deed"),
    # Needs (需求): ask for help (HELP with words after it asks too), list the open ones,
    # take one, give it back, mark it done, rate it, withdraw one's own. A bare 1 / 2 answers
    # "is it done?" (commands.respond).
    "need": ("求助",),
    "needs": ("需求", "needs"),
    "take": ("接单", "take"),
    "release": ("放弃", "release"),
    "done": ("完成", "done"),
    "rate": ("评分", "rate"),
    "withdraw": ("撤销", "cancel"),
    "english": ("英文", "english", "en"),
    "chinese": ("中文", "chinese", "zh"),
}
_LOOKUP = {spelling: name for name, spellings in KEYWORDS.items() for spelling in spellings}
_LONGEST_FIRST = sorted(_LOOKUP, key=len, reverse=True)
MAX_LENGTH = 500


@dataclass(frozen=True)
class Command:
    name: str  # a key of KEYWORDS, or "unknown"
    argument: str = ""  # lower case
    # The argument in the case it was typed (a name: 注册 Wang Xiuying).
    typed: str = field(default="", compare=False)
    # The argument as it was written, full-width punctuation and all (words a person reads
    # later: a request, a good deed, an objection, a note): only whitespace is tidied.
    said: str = field(default="", compare=False)


def normalise(text: str, *, lower: bool = True) -> str:
    """Full-width to half-width (NFKC), one space between words, lower case."""
    text = unicodedata.normalize("NFKC", text or "")[:MAX_LENGTH]
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text.lower() if lower else text


def parse(text: str) -> Command:
    """The command in a message: a keyword at the start, then its argument, if any.

    A Telegram "/start ci_…" or "/bal" works too; Chinese keywords need no space before
    their argument ("签到1234").
    """
    original = "".join(ch if ch.isprintable() else " " for ch in (text or "")[:MAX_LENGTH])
    original = " ".join(original.split())
    typed = normalise(text, lower=False)
    if typed.startswith("/"):
        typed = re.sub(r"^/(\w+)@\w+", r"\1", typed).removeprefix("/")  # /bal@LinliBot
    words = typed.lower()
    if len(words) != len(typed):  # a rare letter whose lower case is longer: lower case only
        typed = words
    for spelling in _LONGEST_FIRST:
        if words.startswith(spelling):
            rest = words[len(spelling) :]
            ascii_word = spelling.isascii() and spelling[-1].isalnum()
            if ascii_word and rest and rest[0].isalnum():
                continue  # "balance" is not "bal" + "ance"; "topic" is not "top"
            said = (
                _written_after(original, len(spelling))
                if typed == normalise(original, lower=False)
                else typed[len(spelling) :].strip()
            )
            return Command(_LOOKUP[spelling], rest.strip(), typed[len(spelling) :].strip(), said)
    return Command(
        "unknown", words, typed, original if typed == normalise(original, lower=False) else typed
    )


def _written_after(original: str, keyword_length: int) -> str:
    """What follows a keyword of `keyword_length` normalised characters, as written: the
    shortest start of the original text that normalises to that length is the keyword."""
    for end in range(len(original) + 1):
        if len(normalise(original[:end])) >= keyword_length:
            return original[end:].strip()
    return ""


def digits(argument: str) -> str:
    """The digits in an argument ("1234", "12 34", "#1234")."""
    return "".join(ch for ch in argument if ch.isdigit())
