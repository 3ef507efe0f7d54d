"""A local stand-in for Stripe's REST API, for the real stripe SDK to talk to in tests.

A real HTTP server on 127.0.0.1 (a thread), speaking the v1 API the stripe adapter uses:
form-encoded bodies with nested keys (``metadata[booking]=…``, ``payment_method_types[0]=card``),
``Authorization: Bearer <secret key>``, ``Idempotency-Key`` honoured (the first answer replayed
with ``Idempotent-Replayed: true``; other parameters → 400 ``idempotency_error``), JSON objects
with their ``"object"`` type, and Stripe's error JSON ``{"error": {"type", "code",
"decline_code", "message", "param"}}``. What the objects do is ``StripeTestMode`` — the same
simulation the fake gateway runs — over an in-memory store, so both adapters meet one set of
semantics (payments/gateways/fake.py lists the test cards and PaymentMethod ids).

Routes: ``POST /v1/customers``, ``POST /v1/customers/{id}`` (update), ``POST /v1/payment_intents``,
``GET /v1/payment_intents/{id}``, ``POST /v1/payment_intents/{id}/confirm|capture|cancel``, ``POST
/v1/setup_intents``, ``GET /v1/setup_intents/{id}``, ``POST /v1/setup_intents/{id}/confirm``, ``POST
/v1/refunds``, ``POST /v1/transfers``; and ``POST /_fake/3ds/{id}`` (``outcome=pass|fail``), the bank's 3-D Secure page
that Stripe.js would show the customer.

Tests steer it: ``fail_next(status)`` queues error answers (500, 429, 503 …) that come before the
request is handled (so nothing happens and nothing is kept under the idempotency key);
``delay_next(seconds)`` makes the next answer slow (longer than the client's timeout: the request
is still carried out, the client just never hears); ``complete_authentication(id, outcome)`` plays
the customer on the 3-D Secure page. Everything received is in ``requests``.
"""

import copy
import json
import re
import secrets
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from payments.gateways.fake import StripeTestMode

ROUTES = [
    ("POST", re.compile(r"^/v1/customers$"), "customers.create"),
    ("POST", re.compile(r"^/v1/customers/(?P<id>[^/]+)$"), "customers.update"),
    ("POST", re.compile(r"^/v1/payment_intents$"), "payment_intents.create"),
    ("GET", re.compile(r"^/v1/payment_intents/(?P<id>[^/]+)$"), "payment_intents.retrieve"),
    ("POST", re.compile(r"^/v1/payment_intents/(?P<id>[^/]+)/confirm$"), "payment_intents.confirm"),
    ("POST", re.compile(r"^/v1/payment_intents/(?P<id>[^/]+)/capture$"), "payment_intents.capture"),
    ("POST", re.compile(r"^/v1/payment_intents/(?P<id>[^/]+)/cancel$"), "payment_intents.cancel"),
    ("POST", re.compile(r"^/v1/setup_intents$"), "setup_intents.create"),
    ("GET", re.compile(r"^/v1/setup_intents/(?P<id>[^/]+)$"), "setup_intents.retrieve"),
    ("POST", re.compile(r"^/v1/setup_intents/(?P<id>[^/]+)/confirm$"), "setup_intents.confirm"),
    ("POST", re.compile(r"^/v1/refunds$"), "refunds.create"),
    ("POST", re.compile(r"^/v1/transfers$"), "transfers.create"),
]
AUTHENTICATION_PAGE = re.compile(r"^/_fake/3ds/(?P<id>[^/]+)$")

SCRIPTED_ERRORS = {
    429: {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
    },
    500: {"type": "api_error", "message": "Something went wrong on Stripe's end."},
    502: {"type": "api_error", "message": "Bad gateway."},
    503: {"type": "api_error", "message": "Stripe is temporarily unavailable."},
}


class MemoryStore:
    """``StripeTestMode``'s store as a dict; one lock makes each request atomic."""

    class Conflict(Exception):
        pass

    def __init__(self):
        self._objects: dict[str, dict] = {}
        self._lock = threading.RLock()

    def atomic(self):
        return self._lock

    def get(self, object_id, *, for_update=False):
        with self._lock:
            obj = self._objects.get(object_id)
            return copy.deepcopy(obj) if obj is not None else None

    def put(self, obj):
        with self._lock:
            self._objects[obj["id"]] = copy.deepcopy(obj)

    def add(self, obj):
        with self._lock:
            if obj["id"] in self._objects:
                raise self.Conflict(obj["id"])
            self._objects[obj["id"]] = copy.deepcopy(obj)

    def objects(self, kind: str) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(obj) for obj in self._objects.values() if obj.get("object") == kind]


def parse_form(body: str) -> dict:
    """Stripe's form encoding back into nested dicts and lists: ``a[b][c]=1`` → ``{"a": {"b":
    {"c": "1"}}}``; ``a[0]=x&a[1]=y`` → ``{"a": ["x", "y"]}``. Values stay strings (Stripe
    parses them per parameter; so does the simulation)."""
    result: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, *rest = re.findall(r"[^\[\]]+|\[\]", key) or [key]
        parts = [head, *rest]
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(result)


def _lists(node):
    if isinstance(node, dict):
        node = {key: _lists(value) for key, value in node.items()}
        if node and all(key.isdigit() for key in node):
            return [node[key] for key in sorted(node, key=int)]
    return node


@dataclass
class ReceivedRequest:
    method: str
    path: str
    params: dict
    headers: dict
    status: int = 0


@dataclass
class FakeStripe:
    api_key: str = field(default_factory=lambda: "sk_test_fake_" + secrets.token_hex(12))
    requests: list = field(default_factory=list)

    def __post_init__(self):
        self.store = MemoryStore()
        self.simulation = StripeTestMode(self.store)
        self._scripted = deque()
        self._delays = deque()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._server = None
        self._thread = None

    # --- steering ---------------------------------------------------------------------------------
    def fail_next(self, status: int = 500, times: int = 1, error: dict | None = None):
        for _ in range(times):
            self._scripted.append((status, error or SCRIPTED_ERRORS.get(status, SCRIPTED_ERRORS[500])))

    def delay_next(self, seconds: float, times: int = 1):
        for _ in range(times):
            self._delays.append(seconds)

    def complete_authentication(self, object_id: str, outcome: str = "pass") -> dict:
        """The customer on the 3-D Secure page (the ``next_action`` URL Stripe.js would open)."""
        request = urllib.request.Request(
            f"{self.base_url}/_fake/3ds/{object_id}", data=urlencode({"outcome": outcome}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def wait_idle(self, timeout: float = 10.0):
        """Wait until no request is being handled (e.g. one the client gave up on)."""
        with self._idle:
            assert self._idle.wait_for(lambda: self._in_flight == 0, timeout), "fake Stripe still busy"

    def objects(self, kind: str) -> list[dict]:
        return self.store.objects(kind)

    def posts(self, path_prefix: str = "/v1/") -> list[ReceivedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith(path_prefix)]

    # --- lifecycle --------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                fake._handle(self, "POST")

            def do_GET(self):
                fake._handle(self, "GET")

            def log_message(self, format, *args):  # keep test output quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.simulation.base_url = self.base_url
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-stripe", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- the API ----------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str):
        with self._lock:
            self._in_flight += 1
        try:
            self._respond(handler, method)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _respond(self, handler, method):
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        params = parse_form(raw if method == "POST" else url.query)
        received = ReceivedRequest(method=method, path=url.path, params=params, headers=dict(handler.headers.items()))
        with self._lock:
            self.requests.append(received)
            delay = self._delays.popleft() if self._delays else 0
        if delay:
            time.sleep(delay)
        status, body, replayed = self._answer(method, url.path, params, handler.headers)
        received.status = status
        payload = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.send_header("Request-Id", "req_" + secrets.token_hex(7))
            if replayed:
                handler.send_header("Idempotent-Replayed", "true")
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def _answer(self, method, path, params, headers):
        page = AUTHENTICATION_PAGE.match(path)
        if page and method == "POST":
            status, body = self.simulation.authenticate(page["id"], params.get("outcome", "pass"))
            return status, body, False
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}}, False
        with self._lock:
            scripted = self._scripted.popleft() if self._scripted else None
        if scripted:
            status, error = scripted
            return status, {"error": dict(error)}, False
        for route_method, pattern, operation in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                key = headers.get("Idempotency-Key") if method == "POST" else None
                replayed = bool(key) and self.simulation.has_idempotency_record(key)
                status, body = self.simulation.handle(
                    operation, object_id=match.groupdict().get("id"), params=params, idempotency_key=key
                )
                return status, body, replayed
        message = f"Unrecognized request URL ({method}: {path})."
        return 404, {"error": {"type": "invalid_request_error", "message": message}}, False
