"""HTTP pieces of the job photos (ARCHITECTURE §7): the size-limited multipart parser, the
serializers, and the authenticated file responses. The actions live on BookingViewSet.

Size: a request whose Content-Length exceeds one photo plus the form's framing is refused with 413
before its body is parsed, whatever its content type; while parsing, a file part growing past
10 MB is refused with 413 the moment it does (a chunked request has no Content-Length); a
non-file field over DATA_UPLOAD_MAX_MEMORY_SIZE (an image sent without a filename) is a 413
too, not Django's bare 400. (Behind a proxy, its own body limit — e.g. nginx
``client_max_body_size 11m`` — stops larger bodies before they reach the application.)

Serving: photos are never linked by a storage URL. The image and thumbnail endpoints check, on
every request, that the caller may see the booking's photos, and answer with the file read from
storage — local files or a private S3 bucket alike.
"""

import logging
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, DataAndFiles, MultiPartParser
from rest_framework.reverse import reverse

from bookings.images import CONTENT_TYPE_BY_EXTENSION, MAX_PHOTO_BYTES, too_large
from bookings.models import BookingPhoto, PhotoKind
from core.api.base import ModelSerializer
from core.errors import NotFound

logger = logging.getLogger(__name__)

# One photo plus the multipart boundaries, part headers, kind and caption.
MAX_PHOTO_REQUEST_BYTES = MAX_PHOTO_BYTES + 64 * 1024
PHOTO_FILE_VARIANTS = ("image", "thumbnail")
# The bytes behind a photo id never change; "private" keeps them out of shared caches.
PHOTO_CACHE_CONTROL = "private, max-age=3600"


class PhotoSizeLimitHandler(FileUploadHandler):
    """First in the upload handler chain: passes every chunk on, and refuses (413) a file part
    as soon as it grows past MAX_PHOTO_BYTES, before the rest is spooled to disk."""

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > MAX_PHOTO_BYTES:
            raise too_large()
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler (memory or temporary file) builds the file


class PhotoMultiPartParser(MultiPartParser):
    """DRF's multipart parser with the photo size limits (module docstring)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        if _content_length(request) > MAX_PHOTO_REQUEST_BYTES:
            raise too_large()
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        handlers = [PhotoSizeLimitHandler(), *request.upload_handlers]
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            data, files = DjangoMultiPartParser(meta, stream, handlers, encoding).parse()
        except RequestDataTooBig:
            raise too_large() from None
        except (TooManyFieldsSent, TooManyFilesSent, MultiPartParserError) as error:
            raise ParseError(f"Multipart form parse error - {error}") from None
        return DataAndFiles(data, files)


class PhotoOtherBodyParser(BaseParser):
    """After the multipart parser, for any other content type: 413 when too large (whatever the
    body is, an oversized upload gets the same answer), otherwise 415. Never reads the body."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        if _content_length((parser_context or {})["request"]) > MAX_PHOTO_REQUEST_BYTES:
            raise too_large()
        raise UnsupportedMediaType(media_type)


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


# The parsers of POST /api/bookings/{id}/photos/, in order.
PHOTO_UPLOAD_PARSERS = [PhotoMultiPartParser, PhotoOtherBodyParser]


class PhotoFileNegotiation(BaseContentNegotiation):
    """The file endpoints answer with the file, or with a JSON error, whatever the client says it
    accepts: an ``<img>`` asks for ``image/*``, which would otherwise be a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class PhotoUploadSerializer(serializers.Serializer):
    # A FileField, not an ImageField: the photo service decodes and checks the image itself.
    image = serializers.FileField(allow_empty_file=False)
    kind = serializers.ChoiceField(choices=PhotoKind.choices)
    caption = serializers.CharField(
        max_length=BookingPhoto._meta.get_field("caption").max_length, allow_blank=True, required=False, default=""
    )


class BookingPhotoSerializer(ModelSerializer):
    image_url = serializers.SerializerMethodField(help_text=_("The photo, for a signed-in participant."))
    thumbnail_url = serializers.SerializerMethodField(help_text=_("A 320 px thumbnail of the photo."))

    class Meta:
        model = BookingPhoto
        fields = [
            "id",
            "kind",
            "caption",
            "sha256",
            "width",
            "height",
            "size_bytes",
            "created_at",
            "image_url",
            "thumbnail_url",
        ]
        read_only_fields = fields

    def _file_url(self, photo, variant):
        return reverse(
            "booking-photo-file",
            kwargs={"pk": str(photo.booking_id), "photo_id": str(photo.pk), "variant": variant},
            request=self.context.get("request"),
        )

    @extend_schema_field(OpenApiTypes.URI)
    def get_image_url(self, photo) -> str:
        return self._file_url(photo, "image")

    @extend_schema_field(OpenApiTypes.URI)
    def get_thumbnail_url(self, photo) -> str | None:
        return self._file_url(photo, "thumbnail") if photo.thumbnail else None


def photo_file_response(photo: BookingPhoto, variant: str) -> HttpResponse:
    """The photo (``image``) or its thumbnail, read from storage. The caller has checked that the
    user may see it (bookings.services.photos.photo_get).

    The file is read whole rather than streamed: a stored photo is our re-encoding (at most
    4096 px on its long edge, a few MB), and under ASGI Django would gather a synchronous file
    stream into memory anyway, with a warning per response."""
    field = photo.image if variant == "image" else photo.thumbnail
    if variant not in PHOTO_FILE_VARIANTS or not field:
        raise NotFound()
    extension = PurePosixPath(field.name).suffix.lower()
    try:
        with field.storage.open(field.name, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        logger.error("The stored file %s of photo %s is missing.", field.name, photo.pk)
        raise NotFound() from None
    suffix = "" if variant == "image" else "-thumbnail"
    filename = f"{photo.booking.booking_number}-{photo.kind}-{str(photo.pk)[:8]}{suffix}{extension}"
    response = HttpResponse(content, content_type=CONTENT_TYPE_BY_EXTENSION.get(extension, "application/octet-stream"))
    response["Content-Disposition"] = content_disposition_header(as_attachment=False, filename=filename)
    response["Cache-Control"] = PHOTO_CACHE_CONTROL
    return response
