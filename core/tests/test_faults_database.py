"""Fault: PostgreSQL restarts under load (issue 10, "Faults").

A private PostgreSQL cluster (initdb in a temporary directory, a free port — the machine's shared
server is never touched) and a private Redis serve the app as production runs it: uvicorn,
``marketplace.settings.production``, the psycopg pool. Five clients, one per kind of request, keep
calling — anonymous and authenticated API reads, a POST with an Idempotency-Key (whose record
the middleware writes before the view), a server-rendered page — while the cluster is shut down
fast (every session terminated, as in a restart or fail-over), left down for a few seconds, and
started again.

Every answer is 200 or 503: during the outage 503 with ``Retry-After`` and JSON ``{"detail"}``
(the page gets a short HTML page), each within the pool's timeout (``DB_POOL_TIMEOUT``) rather
than hanging; after the restart the same server process answers 200 again by itself.
"""

import threading
import time
import uuid
from dataclasses import dataclass

import pytest
from django.db import InterfaceError, OperationalError, ProgrammingError

from core.middleware import database_unavailable
from core.tests.faults import AppServer, PostgresCluster, RedisServer, production_env, wait_for

POOL_TIMEOUT = 3  # seconds a request waits for a pooled connection before it answers 503
OUTAGE = POOL_TIMEOUT + 2  # long enough that requests wait out the pool's timeout


@dataclass
class Call:
    path: str
    started: float
    elapsed: float
    status: int
    body: bytes
    headers: dict


@pytest.fixture
def cluster():
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        cluster.create_database("homeserve")
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def app(cluster, tmp_path):
    import subprocess
    import sys

    from core.tests.faults import ROOT

    redis = RedisServer().start()
    env = production_env(
        database_url=cluster.url("homeserve"),
        redis_url=redis.url(0),
        var_dir=tmp_path,
        DB_POOL_TIMEOUT=POOL_TIMEOUT,
        THROTTLE_ANON="100000/min",
    )
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        server = AppServer(env=env, log_path=tmp_path / "server.log").start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        redis.stop()


def register(app) -> str:
    answer = app.call(
        "POST",
        "/auth/register/",
        {
            "email": f"faults-{uuid.uuid4().hex[:8]}@example.com",
            "password": "Quiet-Harbour-42!",
            "role": "customer",
            "first_name": "Asha",
            "last_name": "Rao",
            "phone": "+919812345678",
        },
    )
    assert answer.status == 201, answer.text
    return answer.json()["access"]


# A private cluster, not the shared server; but a PostgreSQL test, never part of the SQLite pass.
@pytest.mark.postgres
def test_a_database_restart_answers_503_meanwhile_and_recovers_by_itself(app, cluster):
    token = register(app)
    requests = [
        ("GET", "/api/services/", {}),
        ("GET", "/api/bookings/", {"token": token}),
        ("GET", "/api/users/me/", {"token": token}),
        ("POST", "/api/notifications/read-all/", {"token": token, "idempotent": True}),
        ("GET", "/", {}),
    ]
    calls: list[Call] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(method, path, options):
        while not stop.is_set():
            headers = {"Idempotency-Key": uuid.uuid4().hex} if options.get("idempotent") else {}
            started = time.monotonic()
            try:
                answer = app.call(
                    method, path, {} if method == "POST" else None, token=options.get("token"), headers=headers
                )
                call = Call(path, started, answer.elapsed, answer.status, answer.body, answer.headers)
            except OSError as error:  # a hang past the client's timeout, or a reset connection
                call = Call(path, started, time.monotonic() - started, 0, repr(error).encode(), {})
            with lock:
                calls.append(call)

    # one client per kind of request, so that every kind meets the outage
    threads = [threading.Thread(target=client, args=request, daemon=True) for request in requests]
    for thread in threads:
        thread.start()
    try:
        # warm: every kind of request answered
        wait_for(
            lambda: {c.path for c in list(calls) if c.status == 200} >= {path for _, path, _ in requests},
            timeout=60,
            what="every endpoint to answer 200 before the restart",
        )
        # when: PostgreSQL goes down (fast shutdown) for a few seconds, then comes back
        down_at = time.monotonic()
        cluster.stop()
        time.sleep(OUTAGE)
        cluster.start()
        up_at = time.monotonic()
        # then: the same server process answers again by itself
        wait_for(
            lambda: (
                {c.path for c in list(calls) if c.status == 200 and c.started > up_at + 1}
                >= {path for _, path, _ in requests}
            ),
            timeout=60,
            what="every endpoint to answer 200 again after the restart",
        )
        recovered_at = time.monotonic()
        time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert app.process.poll() is None, "the server process died"
    statuses = {c.status for c in calls}
    assert statuses <= {200, 503}, [(c.path, c.status, c.body[:300]) for c in calls if c.status not in (200, 503)]
    outage = [c for c in calls if c.status == 503]
    assert outage, "no request met the outage"
    for call in outage:
        assert call.headers.get("retry-after") == "5", call.headers
        if call.path.startswith("/api/"):
            assert call.headers["content-type"] == "application/json", call.headers
            assert b'"detail"' in call.body, call.body
        else:
            assert b"Briefly unavailable" in call.body, call.body[:500]
    assert {c.path for c in outage} >= {"/api/services/", "/api/bookings/", "/api/notifications/read-all/", "/"}
    # nobody hung: a request waits at most the pool's timeout for a connection, then gives up
    assert max(c.elapsed for c in calls) < POOL_TIMEOUT + 10, max(c.elapsed for c in calls)
    # before the shutdown all succeeded; once recovered, all succeed again
    assert all(c.status == 200 for c in calls if c.started + c.elapsed < down_at)
    late = [c for c in calls if c.started > recovered_at]
    assert late and all(c.status == 200 for c in late), [(c.path, c.status) for c in late if c.status != 200]
    log = app.log()
    assert "Internal Server Error" not in log, log[-4000:]
    print(
        f"\n{len(calls)} requests, {len(outage)} answered 503 during a {OUTAGE} s outage;"
        f" recovered {recovered_at - up_at:.1f} s after PostgreSQL was back"
    )


# --- the mapping itself, in process -----------------------------------------------------------------


def _wrapped(cause):
    """A database error as Django raises it: its own class, the driver's error as the cause."""
    error = OperationalError(str(cause))
    error.__cause__ = cause
    return error


def test_only_a_database_out_of_reach_counts_as_unavailable():
    import sqlite3

    import psycopg
    from psycopg_pool import PoolTimeout

    assert database_unavailable(_wrapped(psycopg.OperationalError("connection refused")))  # no SQLSTATE
    assert database_unavailable(_wrapped(PoolTimeout("couldn't get a connection after 3.00 sec")))
    assert database_unavailable(_wrapped(psycopg.errors.AdminShutdown("terminating connection")))
    assert database_unavailable(_wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")))
    assert database_unavailable(InterfaceError("connection already closed"))
    # bugs and conflicts stay what they are
    assert not database_unavailable(_wrapped(psycopg.errors.LockNotAvailable("could not obtain lock")))
    assert not database_unavailable(_wrapped(psycopg.errors.QueryCanceled("statement timeout")))
    assert not database_unavailable(_wrapped(sqlite3.OperationalError("no such table: x")))
    assert not database_unavailable(ProgrammingError("relation does not exist"))
    assert not database_unavailable(ValueError("connection refused"))


@pytest.mark.django_db
def test_a_view_or_a_middleware_that_loses_the_database_answers_503_not_500(client_for, monkeypatch):
    import psycopg
    from django.test import Client

    from core.tests.factories import CustomerFactory

    lost = _wrapped(psycopg.OperationalError("server closed the connection unexpectedly"))

    def raise_lost(*args, **kwargs):
        raise lost

    # a DRF view
    monkeypatch.setattr("bookings.api.views.services_active", raise_lost)
    answer = Client().get("/api/services/")
    assert answer.status_code == 503 and answer["Retry-After"] == "5"
    assert set(answer.json()) == {"detail"}
    # a page
    monkeypatch.setattr("bookings.pages.views.services_active", raise_lost)
    page = Client().get("/")
    assert page.status_code == 503 and b"Briefly unavailable" in page.content
    # a middleware: the Idempotency-Key record is written before the view
    monkeypatch.setattr("payments.idempotency.IdempotencyRecord.objects.create", raise_lost)
    api = client_for(CustomerFactory())
    api.raise_request_exception = False
    answer = api.post("/api/notifications/read-all/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert answer.status_code == 503 and answer["Retry-After"] == "5"
    assert set(answer.json()) == {"detail"}
    # any other database error is still a bug: 500
    monkeypatch.setattr("bookings.api.views.services_active", lambda: (_ for _ in ()).throw(ProgrammingError("x")))
    broken = Client(raise_request_exception=False).get("/api/services/")
    assert broken.status_code == 500
