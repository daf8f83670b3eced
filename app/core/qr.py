"""QR codes drawn on the server as inline SVG (the `qrcode` library), no JavaScript needed."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# qrcode (with Pillow) is imported where a code is drawn: a command that draws none never
# loads it; under gunicorn the master imports it once for every worker (gunicorn.conf.py).

_SIZE = re.compile(r'\s(width|height)="[^"]*"')


def svg(text: str, *, label: str) -> Markup:
    """An <svg> element for `text` on a white ground, labelled for screen readers.

    The library writes fixed millimetre sizes; they are dropped so CSS sizes the code.
    """
    import qrcode
    import qrcode.image.svg

    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=2,
        image_factory=qrcode.image.svg.SvgPathFillImage,
    )
    code.add_data(text)
    code.make(fit=True)
    element = code.make_image().to_string(encoding="unicode")
    element = element[element.index("<svg") :]
    head, rest = element.split(">", 1)
    head = _SIZE.sub("", head) + f' class="qr" role="img" aria-label="{escape(label)}"'
    return Markup(head + ">" + rest)  # noqa: S704  (our escaped label + the library's SVG)


def png(text: str) -> bytes:
    """The same code as a PNG image (for channels that take a picture, e.g. Telegram)."""
    import io

    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=10)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return buffer.getvalue()
