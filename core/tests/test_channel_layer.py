"""The Redis channel layer's configuration (core/layers.py, core/channel_layer.py), on real Redis."""

import asyncio
import contextlib

import pytest
from channels.layers import channel_layers
from django.conf import settings

from core.layers import redis_channel_layer

pytestmark = pytest.mark.redis


@pytest.fixture
def small_pool_layer(settings):
    """The production layer with a pool of 2 connections, to see what a full pool does."""
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(settings.TEST_REDIS_URL, max_connections=2)}
    channel_layers.backends.clear()
    yield channel_layers["default"]
    channel_layers.backends.clear()


def test_many_sockets_joining_and_leaving_at_once_wait_for_a_pooled_connection(small_pool_layer):
    """Two hundred joins and leaves at once on a pool of two: each waits its turn. redis-py 8's
    default pool raised MaxConnectionsError here (at 4,000 sockets in bench/ws_fanout.py),
    leaving stale members in the groups."""
    layer = small_pool_layer

    async def scenario():
        channels = [await layer.new_channel() for _ in range(200)]
        await asyncio.gather(*(layer.group_add("crowd", channel) for channel in channels))
        await layer.group_send("crowd", {"type": "push", "message": {"n": 1}})
        received = await asyncio.wait_for(layer.receive(channels[-1]), timeout=5)
        await asyncio.gather(*(layer.group_discard("crowd", channel) for channel in channels))
        connection = layer.connection(layer.consistent_hash("crowd"))
        left = await connection.zcard(layer._group_key("crowd"))
        await layer.flush()
        await layer.close_pools()
        return received, left

    received, left = asyncio.run(scenario())
    assert received == {"type": "push", "message": {"n": 1}}
    assert left == 0


def test_the_layer_reads_longer_than_its_blocking_pop():
    config = redis_channel_layer(settings.TEST_REDIS_URL)["CONFIG"]["hosts"][0]
    from channels_redis.core import RedisChannelLayer

    assert config["socket_timeout"] > RedisChannelLayer.brpop_timeout


def test_a_task_whose_cancellation_was_dropped_gets_no_connection_and_stops(small_pool_layer):
    """Python 3.11's ``asyncio.wait_for`` can drop a cancellation (CPython gh-86296), and redis-py
    writes each command through it. A receive loop whose cancellation was dropped went on for
    ever; the pool hands such a task no connection and raises the cancellation again."""
    layer = small_pool_layer

    async def scenario():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "push"})  # a healthy task is served as before

        async def dropped_cancellation():
            asyncio.current_task().cancel()
            # as wait_for does when the awaited call finishes at the moment of the cancel:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(1)
            await layer.send(channel, {"type": "push"})
            return "went on"

        task = asyncio.ensure_future(dropped_cancellation())
        done, _ = await asyncio.wait({task}, timeout=5)
        pool = layer.connection(0).connection_pool
        in_use = len(pool._in_use_connections)
        await layer.flush()
        await layer.close_pools()
        return done, task, in_use

    done, task, in_use = asyncio.run(scenario())
    assert task in done and task.cancelled()
    assert in_use == 0  # the connection went back to the pool
