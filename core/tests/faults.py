"""Fault-injection helpers (issue 10, "Faults"): a private ``redis-server``, a private PostgreSQL
cluster, the app served the way production serves it (uvicorn, ``marketplace.settings.production``)
in a subprocess, and a real ``celery worker`` subprocess.

The machine's shared PostgreSQL and Redis are never stopped: each fault test starts the server it
kills on a free port of its own, in a temporary directory, and tears it down afterwards.

``need_binaries(...)`` skips a test whose server binaries are missing, naming them — or fails it
with ``REQUIRE_SERVICES=1`` (what CI sets), so CI can never skip a fault test silently.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")


def need_binaries(*names: str) -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) unless every named binary is there."""
    missing = [name for name in names if not (shutil.which(name) or os.access(name, os.X_OK))]
    if missing:
        message = f"needs {', '.join(missing)} (a private server is started and killed by this test)"
        (pytest.fail if settings.REQUIRE_SERVICES else pytest.skip)(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "the condition"):
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _stop(process: subprocess.Popen | None, *, sig=signal.SIGTERM, timeout: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --- Redis ------------------------------------------------------------------------------------------


class RedisServer:
    """``redis-server`` on a free port: no persistence, in the foreground (a child of the test)."""

    def __init__(self):
        need_binaries(REDIS_SERVER)
        self.port = free_port()
        self.process = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "RedisServer":
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, timeout=20, what=f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: Redis vanishes mid-flight, as in a crash or an OOM kill."""
        _stop(self.process, sig=signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.process)


# --- PostgreSQL -------------------------------------------------------------------------------------


class PostgresCluster:
    """A throwaway cluster: ``initdb`` in a temporary directory, ``pg_ctl`` on a free port. As root
    (initdb and postgres refuse to run as root) the binaries run as the ``postgres`` user, which
    owns the directory."""

    def __init__(self):
        need_binaries(*(str(PG_BIN / name) for name in ("initdb", "pg_ctl", "postgres")))
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            need_binaries("runuser")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="homeserve-pg-"))
        self.data = self.dir / "data"
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *command, timeout=120):
        if self.as_postgres:
            command = ("runuser", "-u", "postgres", "--", *command)
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> "PostgresCluster":
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w",
                  "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: every session is terminated, as in a restart for maintenance or a
        fail-over."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if (self.data / "postmaster.pid").exists():
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the app, as production runs it -----------------------------------------------------------------


def production_env(*, database_url: str, redis_url: str, var_dir: Path, **extra) -> dict:
    """``marketplace.settings.production`` with what a deployment supplies. The test process's
    SECRET_KEY, so the JWTs and sessions a test makes with its own Django are valid on the server.
    Plain HTTP on localhost; the fake gateway and console SMS/e-mail, so nothing leaves the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="marketplace.settings.production",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SITE_URL="http://127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        PAYMENT_GATEWAY="fake",
        SMS_BACKEND="console",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_LEVEL="WARNING",
        VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes
    elapsed: float

    def json(self):
        return json.loads(self.body or b"null")

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class AppServer:
    """The ASGI app under uvicorn in a subprocess, as docker-compose's ``web`` runs it. Its log
    (stdout and stderr) goes to ``log_path``."""

    env: dict
    log_path: Path
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, healthy: bool = True) -> "AppServer":
        command = [
            sys.executable, "-m", "uvicorn", "marketplace.asgi:application", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", str(self.workers), "--no-access-log",
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)

        def up():
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            try:
                return self.call("GET", "/healthz", timeout=5).status == 200
            except OSError:
                return False

        wait_for(up, timeout=90, interval=0.3, what="the app server's /healthz")
        return self

    def stop(self) -> None:
        _stop(self.process)
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def call(self, method, path, body=None, *, token=None, cookie=None, headers=None, timeout=30) -> Response:
        request = urllib.request.Request(f"{self.base}{path}", method=method)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if cookie:
            request.add_header("Cookie", cookie)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, data=data, timeout=timeout) as answer:
                return Response(answer.status, dict(answer.headers), answer.read(), time.monotonic() - started)
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read(), time.monotonic() - started)


def this_runs_database_url() -> str:
    """The URL of the test database this pytest run created (transactional tests' rows are
    committed there, so a subprocess sees them)."""
    from django.db import connection

    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def close_other_sessions() -> None:
    """End the test database's sessions other than ours (a killed subprocess's may linger until
    PostgreSQL notices), so the run can flush and drop the database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


# --- Celery -----------------------------------------------------------------------------------------


@dataclass
class CeleryWorker:
    """``celery -A marketplace worker`` in a subprocess (prefork pool, as docker-compose's
    ``worker``), consuming ``queue`` only. It runs in a process group of its own, so ``kill()``
    takes the main process and its pool child down at once."""

    env: dict
    queue: str
    log_path: Path
    name: str = "fault"
    process: subprocess.Popen | None = None

    def start(self) -> "CeleryWorker":
        command = [
            sys.executable, "-m", "celery", "-A", "marketplace", "worker", "-Q", self.queue,
            "-n", f"{self.name}@%h", "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            return " ready." in self.log()

        wait_for(ready, timeout=90, interval=0.2, what=f"celery worker {self.name} to be ready")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL to the whole worker (main process and pool child): no warm shutdown, no ack,
        nothing recorded — as when the machine or container dies."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # warm shutdown: the running task finishes first
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        self._close_log()

    def _close_log(self):
        if getattr(self, "_log", None) and not self._log.closed:
            self._log.close()
