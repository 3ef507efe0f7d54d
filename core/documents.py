"""What a vendor may upload as an onboarding document: a PDF, JPEG, PNG or WebP file of at most
10 MB, the type told by the file's content — never by its name or the content type the browser
sent. One check for every way in (the API and the application page): ``document_check`` is run
by ``core.services.vendor_document_upload``."""

from django.utils.translation import gettext as _

from core.errors import InvalidInput, PayloadTooLarge

ALLOWED_DOCUMENT_TYPES = {"pdf", "jpeg", "png", "webp"}
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


def sniff_document_type(upload) -> str | None:
    """The file type from its content ("pdf", or the image format Pillow decodes), or None."""
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if head.startswith(b"%PDF-"):
        return "pdf"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(upload) as image:
            image.verify()
            kind = (image.format or "").lower()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    finally:
        upload.seek(0)
    return kind


def document_check(upload) -> str:
    """The type of ``upload`` if it may be stored as a document. Raises PayloadTooLarge (413) over
    10 MB — the size decides before the content is read — and InvalidInput on ``file`` for
    anything that is not a PDF, JPEG, PNG or WebP file."""
    if upload is None:
        raise InvalidInput(fields={"file": [_("Choose a file.")]})
    if upload.size > MAX_DOCUMENT_BYTES:
        raise PayloadTooLarge(_("A document may be at most 10 MB."))
    kind = sniff_document_type(upload)
    if kind not in ALLOWED_DOCUMENT_TYPES:
        raise InvalidInput(fields={"file": [_("Upload a PDF, JPEG, PNG or WebP file.")]})
    return kind
