from core.request_context import reset_request_context, set_request_context


class RequestContextMiddleware:
    """Remembers the caller's address and user agent so audit entries can record them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_request_context(request)
        try:
            return self.get_response(request)
        finally:
            reset_request_context(token)
