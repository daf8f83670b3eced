"""Splitting a reply into text-message parts: 160 characters in GSM-7, 70 in UCS-2 (Chinese)."""

from __future__ import annotations

# GSM 03.38 basic character set (what fits in 7 bits; anything else forces UCS-2).
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
MAX_PARTS = 3


def part_size(text: str) -> int:
    return 160 if all(ch in GSM7 for ch in text) else 70


def split(text: str, *, more: str) -> list[str]:
    """The parts to send; a reply longer than MAX_PARTS ends with `more` (a web link)."""
    size = part_size(text + more)
    if len(text) <= size:
        return [text]
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    if len(parts) <= MAX_PARTS:
        return parts
    room = size * MAX_PARTS - len(more) - 1
    shortened = text[:room].rstrip() + "…" + more
    return [shortened[i : i + size] for i in range(0, len(shortened), size)]
