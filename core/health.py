"""GET /healthz: database, cache and channel layer, each checked for real; GET /api/ping/: the
process alone."""

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache():
    ping = getattr(cache, "ping", None)
    if ping is not None:  # the Redis cache fails soft (core/cache.py): ask Redis itself
        ping()
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("cache did not return the value written")
    cache.delete(key)


async def _layer_round_trip():
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "healthz.ping"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("channel layer returned another message")


def _check_channel_layer():
    async_to_sync(_layer_round_trip)()


@never_cache
@require_GET
def healthz(request):
    results, healthy = {}, True
    for name, check in (
        ("database", _check_database),
        ("cache", _check_cache),
        ("channel_layer", _check_channel_layer),
    ):
        try:
            check()
            results[name] = "ok"
        except Exception as error:  # a health check reports any failure instead of raising
            results[name] = f"error: {error.__class__.__name__}"
            healthy = False
    return JsonResponse({"status": "ok" if healthy else "error", **results}, status=200 if healthy else 503)


class PingView(APIView):
    """``GET /api/ping/`` → ``{"pong": true}``: the process answers, through the same ASGI server,
    Django and DRF stack as every endpoint but with no authentication, throttle or database. A
    liveness probe for a load balancer (``/healthz`` checks the dependencies), and the ceiling the
    HTTP benchmark compares each endpoint's throughput with."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(responses=inline_serializer("Pong", {"pong": serializers.BooleanField()}))
    def get(self, request):
        return Response({"pong": True})
