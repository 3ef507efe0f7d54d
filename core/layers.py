"""The Redis channel layer's configuration, shared by the settings and the Redis-layer tests.

Why not just ``{"hosts": [REDIS_URL]}``: redis-py 8 gives every connection a 5 s read timeout by
default, and channels_redis waits for messages with a blocking ``BZPOPMIN`` of 5 s. The two race,
and an idle socket's receive loop dies with ``TimeoutError`` (the client sees close 1011 and
reconnects) — see channels_redis issue 422. The read timeout here is longer than the blocking
pop, so only a Redis that really stops answering ends the wait.

redis-py 8 also caps a pool at 100 connections and raises ``MaxConnectionsError`` beyond that,
instead of waiting. A server process whose sockets all join or leave their groups at once (a
deploy, a network blip: thousands of ``group_add``/``group_discard`` in the same instant) needs
more than any fixed cap, so the layer's pool waits for a free connection, up to
``pool_timeout`` seconds (core/channel_layer.py); ``max_connections`` is per server process and
per event loop.
"""

# channels_redis's blocking pop (RedisChannelLayer.brpop_timeout) is 5 s.
BLOCKING_POP_SECONDS = 5


def redis_channel_layer(
    url: str, *, max_connections: int = 1000, connect_timeout: float = 2.0, pool_timeout: float = 20.0
) -> dict:
    return {
        "BACKEND": "core.channel_layer.WaitingRedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": url,
                    "socket_timeout": BLOCKING_POP_SECONDS + 10,
                    "socket_connect_timeout": connect_timeout,
                    "max_connections": max_connections,
                    "timeout": pool_timeout,  # wait this long for a free pooled connection
                }
            ],
        },
    }
