"""Reading a QR code from a photo a merchant took (zxing-cpp on a Pillow image)."""

from __future__ import annotations

import io

from flask_babel import lazy_gettext as _l

from app.core.errors import InvalidInput

MAX_PIXELS = 40_000_000  # a phone photo is ~12 MP; refuse decompression bombs


def read(data: bytes) -> list[str]:
    """The texts of the QR codes in the photo; raises InvalidInput when there are none."""
    import zxingcpp
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise InvalidInput(_l("Choose or take a photo first."), field="photo")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InvalidInput(_l("The photo is too large."), field="photo")
            # Phones store rotation in EXIF; the decoder wants the pixels upright.
            picture = ImageOps.exif_transpose(image).convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InvalidInput(_l("This photo cannot be read. Take it again."), field="photo") from None
    picture.thumbnail((2000, 2000))
    found = [
        result.text
        for result in zxingcpp.read_barcodes(
            picture, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        )
        if result.text
    ]
    if not found:
        raise InvalidInput(
            _l("No QR code found in the photo. Hold the phone steady and closer, and try again."),
            field="photo",
        )
    return found
