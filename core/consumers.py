"""WebSocket consumers of core, and the base every consumer shares (ARCHITECTURE §8)."""

import json

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.serializers.json import DjangoJSONEncoder

from core.realtime import user_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class AuthenticatedConsumer(AsyncJsonWebsocketConsumer):
    """Accepts the handshake, then closes with 4401 (no or bad credentials) or 4403 (not allowed).

    Closing after accepting matters: a close before accepting reaches a browser as a bare HTTP
    403 with no code to act on. Subclasses implement ``authorize`` (returning the groups to join,
    or None to refuse) and may send a first message in ``on_joined``."""

    groups_joined: list

    async def connect(self):
        self.groups_joined = []
        await self.accept()
        user = self.scope.get("user")
        if self.scope.get("auth_error") or user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        groups = await self.authorize(user)
        if not groups:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        await self.on_joined(user)

    async def authorize(self, user):
        raise NotImplementedError

    async def on_joined(self, user):
        return None

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # Clients only listen on these sockets (ws/bookings/ takes chat messages: bookings/consumers.py).
        await self.send_json({"type": "error", "detail": "This socket does not accept messages."})

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)

    async def push(self, event):
        await self.send_json(event["message"])


class NotificationConsumer(AuthenticatedConsumer):
    """``ws/notifications/``: the signed-in user's notifications as they are created."""

    async def authorize(self, user):
        return [user_group(user.pk)]
