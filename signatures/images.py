"""The drawn signature: a PNG data URL, checked by decoding it, not by its declared type."""

import base64
import binascii
import io
import warnings

from django.utils.translation import gettext as _
from PIL import Image

from core.errors import InvalidInput, PayloadTooLarge

MAX_BYTES = 1024 * 1024  # 1 MB of PNG
# A signature pad is a few hundred pixels across; anything far larger is refused before decoding
# the pixels (a small PNG can declare a huge canvas: a decompression bomb).
MAX_SIDE = 4096
MAX_PIXELS = 4_000_000
PREFIX = "data:image/png;base64,"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIELD = "signature_image"


def _invalid(message):
    return InvalidInput(fields={FIELD: [message]})


def decode_signature_image(data_url: str) -> bytes:
    """The PNG bytes of ``data_url``, or InvalidInput (400) / PayloadTooLarge (413)."""
    if not isinstance(data_url, str) or not data_url[: len(PREFIX)].lower() == PREFIX:
        raise _invalid(_("Send the drawn signature as a PNG data URL (data:image/png;base64,…)."))
    encoded = data_url[len(PREFIX) :]
    if len(encoded) > (MAX_BYTES * 4) // 3 + 4:
        raise PayloadTooLarge(_("The drawn signature may be at most 1 MB."))
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(_("The drawn signature is not valid base64.")) from None
    if len(raw) > MAX_BYTES:
        raise PayloadTooLarge(_("The drawn signature may be at most 1 MB."))
    if not raw.startswith(PNG_MAGIC):
        raise _invalid(_("The drawn signature is not a PNG image."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                if image.format != "PNG":
                    raise _invalid(_("The drawn signature is not a PNG image."))
                width, height = image.size
                if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
                    raise _invalid(_("The drawn signature's size is not plausible."))
                image.verify()
            # verify() checks the chunks' checksums only; decoding the pixels catches a truncated file.
            with Image.open(io.BytesIO(raw)) as image:
                image.load()
    except InvalidInput:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _invalid(_("The drawn signature could not be read as a PNG image.")) from None
    return raw
