"""A reply as ONE text message, counted as the network counts it, cut only between lines.

A reply goes out as one message that the gateway splits into concatenated parts and the
phone joins again (Twilio joins up to 10), so its lines never arrive out of order or cut in
the middle of an entry. What it costs is its parts:

- GSM-7 (plain Latin text): 160 septets in one part, 153 in each part of a longer one; the
  extension characters (^ { } [ ] ~ | € \\ and form feed) take two septets, an escape and
  the character, and the two never straddle a part.
- UCS-2 (anything else, Chinese): 70 UTF-16 units in one part, 67 in each part of a longer
  one; a character beyond the BMP (an emoji) takes two units, which never straddle a part.

A reply longer than MAX_PARTS parts is cut at the last line that fits and ends with `more`
(what to text, or a link, for the rest); a single line longer than that is cut with "…".
"""

from __future__ import annotations

# GSM 03.38 basic character set (what fits in 7 bits).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Its extension table: reached by an escape, so two septets each.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
# Parts: one alone, each of several (the rest of each part is the concatenation header).
SIZES = {"gsm7": (160, 153), "ucs2": (70, 67)}
# Five parts: a full history page with its continuation, at the price of five messages.
MAX_PARTS = 5


def encoding(text: str) -> str:
    return "gsm7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text) else "ucs2"


def _costs(text: str, kind: str) -> list[int]:
    if kind == "gsm7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def parts(text: str) -> int:
    """How many parts the network sends `text` in (an empty text is one part)."""
    kind = encoding(text)
    costs = _costs(text, kind)
    single, each = SIZES[kind]
    if sum(costs) <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > each:  # a two-unit character starts the next part whole
            count, used = count + 1, 0
        used += cost
    return count


def fit(text: str, *, more: str, max_parts: int = MAX_PARTS) -> str:
    """`text` when it fits in `max_parts` parts; else its first lines that do, then `more`
    on a line of its own; else (one very long line) as much of it as fits, "…" and `more`."""
    text = text.strip()
    if parts(text) <= max_parts:
        return text
    lines = text.split("\n")
    for keep in range(len(lines) - 1, 0, -1):
        shortened = "\n".join(lines[:keep]).rstrip() + "\n" + more
        if parts(shortened) <= max_parts:
            return shortened
    low, high = 0, len(lines[0])  # the longest cut of the first line that fits
    while low < high:
        middle = (low + high + 1) // 2
        if parts(lines[0][:middle].rstrip() + "…\n" + more) <= max_parts:
            low = middle
        else:
            high = middle - 1
    return lines[0][:low].rstrip() + "…\n" + more
