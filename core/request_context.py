from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None = None
    user_agent: str = ""


_current: ContextVar[RequestContext] = ContextVar("request_context", default=RequestContext())


def client_ip(request):
    # Behind a proxy the real address is resolved by the proxy config (PROXY_COUNT); here we keep
    # what the server saw, which is what a trustworthy audit entry can vouch for.
    return request.META.get("REMOTE_ADDR") or None


def set_request_context(request):
    return _current.set(
        RequestContext(
            ip_address=client_ip(request),
            user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:300],
        )
    )


def reset_request_context(token):
    _current.reset(token)


def current_request_context():
    return _current.get()
