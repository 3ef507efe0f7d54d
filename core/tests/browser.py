"""Browser tests: Playwright driving Debian's Chromium against a real ASGI server.

Mark a test ``@pytest.mark.browser`` (registered in pyproject.toml) and use the ``browser``
fixture. It needs the ``playwright`` Python package and Chromium at ``CHROMIUM_PATH`` (default
``/usr/bin/chromium``; ``playwright install`` cannot download browsers here). When either is
missing the test is skipped with a message naming it — or fails, with ``REQUIRE_SERVICES=1``
(what CI sets), so CI can never skip them silently.

The server is uvicorn serving ``marketplace.asgi.application`` in a thread of the test process:
pytest-django's ``live_server`` is WSGI-only, and the pages need WebSockets. Same settings, same
test database (use ``transactional_db``: the server's threads must see committed rows), the
in-memory channel layer (one process) and eager Celery, so after-commit work and WebSocket pushes
happen as in the embedded run. Browser tests are also marked ``postgres``: several threads share
the database, which the in-memory SQLite test database cannot do safely.

Inside ``sync_playwright()`` an asyncio loop runs in the test's thread, which makes Django refuse
ORM calls there; the fixture sets ``DJANGO_ALLOW_ASYNC_UNSAFE`` for these tests only, and
``outside(fn)`` runs database work in a worker thread of its own while pages are open. Set up
data before opening pages where possible.

Screenshots go to ``test-artifacts/`` (ignored by git).
"""

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
# Generous for a 2-core CI machine, short enough that a broken page fails fast.
DEFAULT_TIMEOUT_MS = 15_000


def browser_missing() -> str | None:
    """What a browser test needs and does not find, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright package (pip install -r requirements-dev.txt)"
    if not os.access(CHROMIUM_PATH, os.X_OK):
        return f"needs Chromium at {CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AsgiServer:
    """uvicorn in a daemon thread of this process, serving the project's ASGI application."""

    def __init__(self):
        import uvicorn

        from marketplace.asgi import application

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            application, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning", ws="websockets-sansio"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="asgi-live-server", daemon=True)

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The ASGI test server did not start")
            time.sleep(0.05)
        return self

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        # Django's ASGI handler may leave a database connection open in an executor thread; on
        # PostgreSQL that would stop the test database from being dropped at the end.
        connection = connections["default"]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


def outside(fn, *args, **kwargs):
    """Run ``fn`` (database work) in a worker thread with no event loop, and return its result —
    for ORM calls while a page is open inside ``sync_playwright()``."""
    result, error = {}, {}

    def run():
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            error["exc"] = exc
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if error:
        raise error["exc"]
    return result.get("value")


def session_cookie(user) -> dict:
    """A logged-in session for ``user`` (made through Django's test client), as a cookie."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}


@dataclass
class BrowserSession:
    """What the ``browser`` fixture gives a test: Chromium, the server's URL, and helpers."""

    browser: object
    base_url: str
    contexts: list = field(default_factory=list)

    def new_page(self, *, cookie: dict | None = None, width: int = 1280, height: int = 900, mobile: bool = False):
        """A page in a fresh context (its own cookies), signed in when given a session cookie."""
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport={"width": width, "height": height},
            is_mobile=mobile,
            has_touch=mobile,
            device_scale_factor=1,
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        if cookie:
            context.add_cookies([{**cookie, "url": self.base_url}])
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.js_errors.append(str(exc)))
        return page

    js_errors: list = field(default_factory=list)

    def screenshot(self, page, name: str):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="session")
def asgi_live_server(django_db_setup, django_db_blocker):
    """The project's ASGI application served by uvicorn on 127.0.0.1:<free port>, for the session.
    Tests that use it need ``transactional_db`` (the fixture ``browser`` asks for it)."""
    missing = browser_missing()
    if missing:
        (pytest.fail if settings.REQUIRE_SERVICES else pytest.skip)(missing)
    server = AsgiServer().start()
    yield server
    with django_db_blocker.unblock():
        server.stop()


@pytest.fixture
def browser(asgi_live_server, transactional_db, monkeypatch):
    """A headless Chromium (Debian's) driven by Playwright, with the live ASGI server's URL."""
    from playwright.sync_api import sync_playwright

    # sync_playwright runs an event loop in this thread; Django would refuse the ORM calls the
    # test makes between page steps (see the module docstring).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        session = BrowserSession(browser=chromium, base_url=asgi_live_server.url)
        try:
            yield session
        finally:
            for context in session.contexts:
                context.close()
            chromium.close()
    assert not session.js_errors, f"JavaScript errors on the pages: {session.js_errors}"
