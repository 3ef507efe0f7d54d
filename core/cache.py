"""The Redis cache, failing soft: when Redis does not answer, the process carries on with a
memory cache of its own instead of failing the request.

The cache holds nothing that must survive — the API's throttle counters are all that use it — so
a Redis outage must not turn every throttled request into a 500 (issue 10, "Redis stopped").
On a refused or timed-out connection the backend logs one warning, serves this and every call for
the next ``RETRY_SECONDS`` from a per-process ``LocMemCache`` (throttles keep counting, per
process, instead of not at all), then tries Redis again; the first answer logs the recovery.
Other Redis errors (a wrong type, a bad command) are bugs and still raise.

``ping()`` asks Redis itself, never the fallback, so ``/healthz`` reports the outage.
"""

import logging
import threading
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)
# How long the memory cache stands in before Redis is tried again: one refused connect costs
# little, but redis-py's retries with backoff make each try take up to a second.
RETRY_SECONDS = 5.0

# Per process (Django builds a backend per thread): location → monotonic time Redis is tried again.
_down_until: dict[str, float] = {}
_state_lock = threading.Lock()


class FailSoftRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._location = server if isinstance(server, str) else ",".join(server)
        # One LocMemCache per name per process, shared by the threads' backends.
        self._fallback = LocMemCache(f"failsoft:{self._location}", {"TIMEOUT": params.get("TIMEOUT", 300)})

    def _redis_down(self) -> bool:
        return time.monotonic() < _down_until.get(self._location, 0.0)

    def _call(self, name, *args, **kwargs):
        if self._redis_down():
            return getattr(self._fallback, name)(*args, **kwargs)
        try:
            result = getattr(RedisCache, name)(self, *args, **kwargs)
        except UNAVAILABLE as error:
            with _state_lock:
                first = self._location not in _down_until
                _down_until[self._location] = time.monotonic() + RETRY_SECONDS
            if first:
                logger.warning(
                    "Redis cache unavailable (%s); using this process's memory cache, retrying every %.0f s",
                    error,
                    RETRY_SECONDS,
                )
            return getattr(self._fallback, name)(*args, **kwargs)
        if self._location in _down_until:
            with _state_lock:
                if _down_until.pop(self._location, None) is not None:
                    logger.warning("Redis cache answers again")
        return result

    def ping(self) -> bool:
        """Ask Redis itself (raises when it does not answer): for the health check."""
        return bool(self._cache.get_client(None, write=True).ping())

    def add(self, *args, **kwargs):
        return self._call("add", *args, **kwargs)

    def get(self, *args, **kwargs):
        return self._call("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._call("set", *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._call("touch", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._call("delete", *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._call("get_many", *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._call("has_key", *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._call("incr", *args, **kwargs)

    def set_many(self, *args, **kwargs):
        return self._call("set_many", *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._call("delete_many", *args, **kwargs)

    def clear(self):
        return self._call("clear")
