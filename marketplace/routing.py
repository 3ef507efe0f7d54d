"""WebSocket routes; the consumers arrive with the real-time issue."""

websocket_urlpatterns = []
