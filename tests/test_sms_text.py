"""Counting a text message's parts as the network does, and cutting a reply between lines."""

import pytest

from app.channels import sms_text


@pytest.mark.parametrize(
    ("text", "kind", "parts"),
    [
        ("", "gsm7", 1),
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),  # 153 + 8
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        ("{" * 80, "gsm7", 1),  # an extension character is two septets: 160
        ("{" * 81, "gsm7", 2),
        ("a" + "€" * 76 + "a", "gsm7", 1),  # 1 + 152 + 1 = 154 ≤ 160
        # In a long text, a two-septet character never straddles a part: 152 a's and a "["
        # (2 septets) do not fit in 153, so the "[" starts part 2.
        ("a" * 152 + "[" + "a" * 160, "gsm7", 3),
        ("积" * 70, "ucs2", 1),
        ("积" * 71, "ucs2", 2),  # 67 + 4
        ("积" * 134, "ucs2", 2),
        ("积" * 135, "ucs2", 3),
        ("a" * 69 + "é", "gsm7", 1),  # é is in GSM-7
        ("a" * 70 + "ő", "ucs2", 2),  # ő is not: the whole text turns UCS-2
        ("😀" * 35, "ucs2", 1),  # an emoji is two UTF-16 units: 70
        ("😀" * 36, "ucs2", 2),
        ("积" * 66 + "😀" + "积" * 10, "ucs2", 2),  # 66 + 2 > 67: the emoji opens part 2
        ("积" * 66 + "😀" + "积" * 66, "ucs2", 3),
    ],
)
def test_parts_are_counted_as_the_network_counts_them(text, kind, parts):
    assert sms_text.encoding(text) == kind
    assert sms_text.parts(text) == parts


def test_a_reply_that_fits_goes_whole():
    reply = "第一行\n第二行"
    assert sms_text.fit(reply, more="更多：记录 2") == reply


def test_a_long_reply_is_cut_between_lines_and_says_how_to_get_the_rest():
    lines = [f"11-{day:02d} +30 邻里纠纷调解 第{day}次" for day in range(1, 30)]
    reply = sms_text.fit("\n".join(lines), more="更多：记录 2", max_parts=2)
    kept = reply.split("\n")
    assert kept[-1] == "更多：记录 2"
    assert kept[:-1] == lines[: len(kept) - 1]  # whole lines, in order, none cut
    assert sms_text.parts(reply) <= 2
    # …and as many lines as can fit: one more would not.
    one_more = "\n".join(lines[: len(kept)]) + "\n更多：记录 2"
    assert sms_text.parts(one_more) > 2


def test_one_very_long_line_is_cut_with_an_ellipsis():
    reply = sms_text.fit("积" * 500, more="更多：http://x/", max_parts=3)
    assert reply.endswith("…\n更多：http://x/")
    assert sms_text.parts(reply) == 3
    assert sms_text.parts("积" + reply) == 4  # nothing more would fit


def test_an_emoji_never_tips_a_cut_reply_over_its_parts():
    lines = ["🎉 恭喜 " + "积" * 30 for _ in range(20)]
    reply = sms_text.fit("\n".join(lines), more="更多：排行 2", max_parts=3)
    assert sms_text.parts(reply) <= 3 and reply.endswith("更多：排行 2")


def test_plain_english_stays_gsm7_and_costs_its_true_parts():
    lines = [f"{n}. 11-06 +30 Neighbour mediation" for n in range(1, 40)]
    reply = sms_text.fit("\n".join(lines), more="More: text HIST 2", max_parts=2)
    assert sms_text.encoding(reply) == "gsm7"
    assert sms_text.parts(reply) == 2 and reply.endswith("More: text HIST 2")
