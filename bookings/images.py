"""Checking and re-encoding uploaded job photos (ARCHITECTURE §7). No database, no storage: bytes
in, the bytes to store out.

An upload is trusted for nothing — not its name, not its declared content type, not its header.
It is decoded with Pillow, and only the decoded format counts: JPEG, PNG or WebP. What is stored
is our own re-encoding of the decoded pixels, turned upright by the EXIF orientation and carrying
no EXIF, XMP or comments at all (the GPS position of a customer's home is in there), so whatever
a crafted file carried beside its pixels goes no further.
"""

import hashlib
import io
import logging
from dataclasses import dataclass

from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InvalidInput, PayloadTooLarge

logger = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Decoded size limit, checked on the header before any pixel is decoded. 50 MP covers the largest
# phone cameras' full-resolution JPEGs (48 MP = 8064 × 6048) and stays below Pillow's own
# MAX_IMAGE_PIXELS (~89 MP), so an accepted photo never even raises its bomb warning. A 10 MB
# PNG of one colour can declare far more than that: those are the decompression bombs.
MAX_PHOTO_PIXELS = 50_000_000
# What we keep: the long edge is brought down to this (ample to show a job's state, and it bounds
# the storage and the thumbnailing work); smaller photos keep their size.
MAX_STORED_EDGE = 4096
THUMBNAIL_EDGE = 320

# Decoded format → the format we store. An MPO is a phone's multi-picture JPEG (the main image
# followed by a depth map or preview); its first picture is an ordinary JPEG.
STORED_FORMAT = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
# The only decoders ever run on an upload (Pillow's JPEG decoder also opens MPO files).
DECODERS = ["JPEG", "PNG", "WEBP"]
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
CONTENT_TYPE_BY_EXTENSION = {EXTENSIONS[name]: CONTENT_TYPES[name] for name in EXTENSIONS}


@dataclass(frozen=True)
class ProcessedPhoto:
    format: str  # JPEG, PNG or WEBP
    data: bytes
    thumbnail: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(_("A photo may be at most 10 MB."))


def read_upload(upload) -> bytes:
    """The upload's bytes, refusing more than MAX_PHOTO_BYTES (413) whatever its declared size
    says: at most one byte more than the limit is ever read."""
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_PHOTO_BYTES:
        raise too_large()
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise too_large()
    return data


def _invalid(message) -> InvalidInput:
    return InvalidInput(fields={"image": [message]})


def photo_process(data: bytes) -> ProcessedPhoto:
    """Decode ``data`` and return what to store: the re-encoded photo and its thumbnail.

    Raises PayloadTooLarge (413) over 10 MB, InvalidInput (400) for anything that is not a
    complete JPEG, PNG or WebP image of at most MAX_PHOTO_PIXELS."""
    if len(data) > MAX_PHOTO_BYTES:
        raise too_large()
    if not data:
        raise _invalid(_("The file is empty."))
    try:
        return _process(data)
    except (InvalidInput, PayloadTooLarge):
        raise
    except UnidentifiedImageError:
        # Not an image of an allowed format (text, PDF, GIF, HEIC…): only the JPEG, PNG and WebP
        # decoders are ever tried on an upload.
        raise _invalid(_("Upload a JPEG, PNG or WebP photo.")) from None
    except Image.DecompressionBombError:
        raise _invalid(_("This image's dimensions are too large.")) from None
    except Exception as error:
        # Pillow's decoders signal damaged input with OSError, SyntaxError, ValueError, EOFError,
        # struct.error and more; whichever it is, the upload is not a photo we can keep.
        logger.info("Refused a photo upload that does not decode: %r", error)
        raise _invalid(_("The image is damaged or incomplete.")) from None


def _process(data: bytes) -> ProcessedPhoto:
    with Image.open(io.BytesIO(data), formats=DECODERS) as source:
        stored_format = STORED_FORMAT[source.format]
        width, height = source.size
        # The header's dimensions decide before any pixel is decoded (decompression bombs).
        if width < 1 or height < 1 or width * height > MAX_PHOTO_PIXELS:
            raise _invalid(_("This image's dimensions are too large."))
        if stored_format == "JPEG":
            # A JPEG can be decoded at 1/2, 1/4 or 1/8 scale: never decode more than we keep.
            source.draft(source.mode, _fit((width, height), MAX_STORED_EDGE))
        source.load()  # decodes every pixel: a truncated or damaged file fails here
        icc_profile = source.info.get("icc_profile")
        image = _upright(source)
    image = _normalise_mode(image, stored_format)
    # Nothing of the original's metadata travels on (EXIF incl. GPS, XMP, comments, text chunks);
    # the savers below get only what we pass them. The colour profile is kept: it is colour.
    image.info = {}
    if max(image.size) > MAX_STORED_EDGE:
        image.thumbnail((MAX_STORED_EDGE, MAX_STORED_EDGE), Image.Resampling.LANCZOS)
    thumbnail = image.copy()
    thumbnail.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS)
    return ProcessedPhoto(
        format=stored_format,
        data=_encode(image, stored_format, icc_profile=icc_profile),
        thumbnail=_encode(thumbnail, stored_format, icc_profile=icc_profile, quality=80),
        width=image.width,
        height=image.height,
    )


def _fit(size: tuple[int, int], edge: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _upright(source: Image.Image) -> Image.Image:
    """The decoded image turned as the camera's EXIF orientation says (a copy)."""
    try:
        return ImageOps.exif_transpose(source)
    except Exception as error:
        # Damaged EXIF must not cost the vendor the photo: it is dropped anyway, so keep the
        # pixels as they were decoded.
        logger.info("Ignored unreadable EXIF orientation: %r", error)
        return source.copy()


def _normalise_mode(image: Image.Image, stored_format: str) -> Image.Image:
    """A pixel mode the stored format and the resampling filters handle, keeping transparency."""
    if stored_format == "JPEG":
        return image if image.mode in ("L", "RGB") else image.convert("RGB")
    if image.mode in ("RGB", "RGBA") or (stored_format == "PNG" and image.mode in ("L", "LA")):
        return image
    # Palette, 1-bit, 16-bit and CMYK-like modes; a palette's transparency lives in info, which
    # the conversion reads before it is cleared.
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def _encode(image: Image.Image, stored_format: str, *, icc_profile=None, quality: int = 85) -> bytes:
    params = {"icc_profile": icc_profile} if icc_profile else {}
    if stored_format == "JPEG":
        params.update(quality=quality, optimize=True)
    elif stored_format == "WEBP":
        params.update(quality=quality, method=4)
    buffer = io.BytesIO()
    image.save(buffer, format=stored_format, **params)
    return buffer.getvalue()
