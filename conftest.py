"""Shared pytest setup.

Tests marked ``postgres`` need the real PostgreSQL server (exclusion constraints, row locks under
real threads) and tests marked ``redis`` the real Redis server. Without them they skip with a
message naming what is missing; with ``REQUIRE_SERVICES=1`` the settings refuse to start instead
(marketplace/settings/test.py), so CI can never silently skip them.

Tests marked ``browser`` drive Chromium through Playwright against a live ASGI server (fixtures in
core/tests/browser.py). Without the playwright package or Chromium they skip with a message naming
what is missing; with ``REQUIRE_SERVICES=1`` they fail instead.
"""

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from core.tests.browser import asgi_live_server, browser, browser_missing  # noqa: F401 (fixtures)

pytest_plugins = ["core.tests.hang_watch"]


def pytest_collection_modifyitems(config, items):
    postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    for item in items:
        if "postgres" in item.keywords and not postgres:
            reason = (
                "needs PostgreSQL: this pass runs on SQLite (TEST_DB=sqlite)"
                if settings.TEST_DB == "sqlite"
                else f"needs PostgreSQL at {settings.TEST_POSTGRES_URL}, which does not answer"
            )
            item.add_marker(pytest.mark.skip(reason=reason))
        if "redis" in item.keywords and not settings.REDIS_AVAILABLE:
            item.add_marker(pytest.mark.skip(reason=f"needs Redis at {settings.TEST_REDIS_URL}, which does not answer"))
        if "browser" in item.keywords and not settings.REQUIRE_SERVICES:
            missing = browser_missing()
            if missing:
                item.add_marker(pytest.mark.skip(reason=missing))


@pytest.fixture(autouse=True)
def _clean_cache():
    # Throttle counters live in the cache; every test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    """``client_for(user)``: an API client authenticated as ``user`` with a real access JWT."""
    from rest_framework_simplejwt.tokens import RefreshToken

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        client.user = user
        return client

    return make
