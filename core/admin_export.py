"""CSV export of an admin changelist: the rows the changelist shows for its current filters,
search and ordering, streamed, with every cell that a spreadsheet would run as a formula
neutralised (CSV injection: a cell starting with =, +, -, @, a tab or a carriage return gets a
leading apostrophe; numbers stay numbers).

``CsvExportMixin`` adds ``<changelist>/export/`` (the view permission is enough: it shows what
the changelist shows) and a button on the changelist (templates/admin/csv_change_list.html). Rows
are read in chunks by primary key, so memory stays flat and each chunk is its own short query —
which also lets the response stream under ASGI (an async iterator) as well as under WSGI.
"""

import csv
from datetime import datetime
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext

from core.admin_audit import admin_audit

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 1000


def csv_cell(value) -> str | int | Decimal:
    """One cell: numbers as they are, datetimes in the platform time zone (ISO 8601), text with a
    leading apostrophe when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value):
        return value


def _chunks(queryset, chunk_size):
    """Lists of rows in the queryset's order, ``chunk_size`` at a time: the primary keys first
    (one query), then one query per chunk."""
    pks = list(queryset.values_list("pk", flat=True))
    for start in range(0, len(pks), chunk_size):
        part = pks[start : start + chunk_size]
        rows = {row.pk: row for row in queryset.order_by().filter(pk__in=part)}
        yield [rows[pk] for pk in part if pk in rows]


def csv_stream(request, *, header, rows_of, queryset, filename, chunk_size=CHUNK_SIZE) -> StreamingHttpResponse:
    """A streamed CSV download of ``queryset``: ``header`` then ``rows_of(obj)`` per row."""
    writer = csv.writer(_Echo())

    def lines(chunk):
        return "".join(writer.writerow([csv_cell(value) for value in rows_of(obj)]) for obj in chunk)

    if isinstance(request, ASGIRequest):
        chunks = _chunks(queryset, chunk_size)

        def next_lines():
            chunk = next(chunks, None)
            return None if chunk is None else lines(chunk)

        async def content():
            yield writer.writerow(header)
            # Each chunk is read in the thread the ORM may run in; the event loop only streams.
            while (text := await sync_to_async(next_lines)()) is not None:
                yield text

    else:

        def content():
            yield writer.writerow(header)
            for chunk in _chunks(queryset, chunk_size):
                yield lines(chunk)

    response = StreamingHttpResponse(content(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


class CsvExportMixin:
    """A ModelAdmin mixin: ``csv_columns`` is a sequence of (header, function of the row)."""

    csv_columns = ()
    csv_name = None
    csv_chunk_size = CHUNK_SIZE
    change_list_template = "admin/csv_change_list.html"

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.csv_export_view),
                name=f"{opts.app_label}_{opts.model_name}_export",
            ),
            *super().get_urls(),
        ]

    def csv_export_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        opts = self.model._meta
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            self.message_user(request, gettext("Those filters are not valid; nothing was exported."), messages.ERROR)
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        queryset = changelist.get_queryset(request)
        name = self.csv_name or opts.model_name
        filename = f"{name}-{timezone.localtime():%Y%m%d-%H%M}.csv"
        admin_audit(
            request,
            action="admin.export",
            object_type=opts.label_lower,
            new={"filters": request.GET.urlencode(), "file": filename},
        )
        return csv_stream(
            request,
            header=[str(title) for title, _value in self.csv_columns],
            rows_of=lambda obj: [value(obj) for _title, value in self.csv_columns],
            queryset=queryset,
            filename=filename,
            chunk_size=self.csv_chunk_size,
        )
