"""The Redis channel layer with a pool that waits for a free connection instead of failing.

redis-py 8's default pool raises ``MaxConnectionsError`` the moment all its connections are in
use. channels_redis takes a connection per ``group_add``/``group_discard`` call, so a server
process whose thousands of sockets leave at once (a deploy, a network blip, a load balancer
draining) ran past any fixed cap and each failed leave left a stale group member behind (seen
at 4,000 sockets on two processes in bench/ws_fanout.py). Here the calls queue for a connection,
up to ``timeout`` seconds (core/layers.py), and only a Redis that stays saturated that long fails.
"""

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class WaitingRedisChannelLayer(RedisChannelLayer):
    def create_pool(self, index):
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), **host)
