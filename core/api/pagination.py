from django.core.paginator import Page
from django.utils.translation import gettext_lazy as _
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError

# Past this page number a list is certainly over (and OFFSET would overflow the database's
# integer): answered like any page past the end.
MAX_PAGE_NUMBER = 10**9


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100
    page_size_query_description = _("Rows per page, 1 or more; more than 100 gives 100.")

    def get_page_size(self, request):
        """A malformed ``page_size`` is bad input (400), not silently the default size (DRF's
        way); an empty one means the default, like any other empty optional parameter."""
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError({self.page_size_query_param: [_("Give a whole number of rows, 1 or more.")]})
        return min(size, self.max_page_size)

    def paginate_counted(self, source, request):
        """``paginate_queryset`` for a source that reads a page and the list's length in one
        query — ``source.page(offset, limit)`` → ``(rows, total)``, total None for an empty page
        past the first — and ``source.count()`` for ``page=last``. The answers are DRF's (a page
        that is not a number, below 1 or past the end is a 404), without the COUNT query that
        Django's paginator runs before every page."""
        self.request = request
        page_size = self.get_page_size(request)
        paginator = self.django_paginator_class((), page_size)
        raw = request.query_params.get(self.page_query_param) or 1
        if raw in self.last_page_strings:
            paginator.count = source.count()
            raw = paginator.num_pages
        try:
            number = int(raw)
        except (TypeError, ValueError):
            number = 0
        if not 1 <= number <= MAX_PAGE_NUMBER:
            raise NotFound(self.invalid_page_message)
        rows, total = source.page((number - 1) * page_size, page_size)
        if total is None:
            raise NotFound(self.invalid_page_message)
        paginator.count = total
        self.page = Page(rows, number, paginator)
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return list(rows)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters
