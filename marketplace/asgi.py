import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.base")

# Django must be set up before anything imports models (the routing does).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from core.ws_auth import WebSocketAuthStack, origin_checked  # noqa: E402
from marketplace.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": origin_checked(WebSocketAuthStack(URLRouter(websocket_urlpatterns))),
    }
)

if settings.IN_PROCESS_SCHEDULER:
    from core.scheduler import start_in_process_scheduler

    start_in_process_scheduler()
