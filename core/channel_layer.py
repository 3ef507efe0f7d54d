"""The Redis channel layer with a pool that waits for a free connection instead of failing, and
that does not let a socket's receive loop outlive its cancellation.

redis-py 8's default pool raises ``MaxConnectionsError`` the moment all its connections are in
use. channels_redis takes a connection per ``group_add``/``group_discard`` call, so a server
process whose thousands of sockets leave at once (a deploy, a network blip, a load balancer
draining) ran past any fixed cap and each failed leave left a stale group member behind (seen
at 4,000 sockets on two processes in bench/ws_fanout.py). Here the calls queue for a connection,
up to ``timeout`` seconds (core/layers.py), and only a Redis that stays saturated that long fails.

Cancellation: every consumer runs a task that waits for its channel's messages (a blocking
``BZPOPMIN`` of 5 s, again and again) and channels cancels it when the socket closes. On Python
3.11, ``asyncio.wait_for`` drops a cancellation that arrives just as the awaited call finishes
(CPython gh-86296, fixed in 3.12), and redis-py writes every command through ``wait_for``. A
socket that closed while its connection to Redis was still being set up — a refused 4401/4403
socket, a page closed at once — had its cancellation dropped in that handshake, and its receive
task went on popping every 5 s for ever: a task and a Redis connection leaked per such socket,
and a test's event loop that never closed (seen as a CI run hanging at the Redis-layer
consumer tests). A dropped cancellation still counts in ``Task.cancelling()``, so the pool
refuses to hand a connection to a task that has been asked to stop and raises the cancellation
again: the loop ends at its next command — at once, or after the blocking pop it was in.
"""

import asyncio

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class _CancellationAwarePool(BlockingConnectionPool):
    async def get_connection(self, *args, **kwargs):
        connection = await super().get_connection(*args, **kwargs)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            await self.release(connection)
            raise asyncio.CancelledError("cancelled while taking a Redis connection")
        return connection


class WaitingRedisChannelLayer(RedisChannelLayer):
    def create_pool(self, index):
        host = dict(self.hosts[index])
        return _CancellationAwarePool.from_url(host.pop("address"), **host)
