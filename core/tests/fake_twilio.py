"""A local stand-in for Twilio's Messages API, for the real twilio SDK to talk to in tests.

A real HTTP server on 127.0.0.1 (a thread), speaking the 2010-04-01 API the SDK uses:
``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with form fields (To, From or
MessagingServiceSid, Body) and HTTP Basic auth (AccountSid:AuthToken), answering 201 with a
Message resource, or Twilio's error JSON ``{code, message, more_info, status}``.

Tests steer it: ``fail_next(status, code)`` queues error answers, ``reject_number(to, code)``
makes one number fail for good, ``delay`` slows every answer (timeouts, races). Everything it
received is in ``requests`` (every call) and ``messages`` (accepted ones).
"""

import base64
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")

ERROR_TEXT = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number {to} is not a valid phone number.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}


@dataclass
class ReceivedRequest:
    method: str
    path: str
    form: dict
    auth: tuple[str, str] | None
    status: int = 0


@dataclass
class FakeTwilio:
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    delay: float = 0.0
    requests: list = field(default_factory=list)
    messages: list = field(default_factory=list)

    def __post_init__(self):
        self._scripted = deque()
        self._rejected = {}
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    # --- steering ---------------------------------------------------------------------------------
    def fail_next(self, status: int = 500, code: int | None = None, times: int = 1, message: str | None = None):
        code = code or {429: 20429, 500: 20500, 503: 20500}.get(status, status)
        for _ in range(times):
            self._scripted.append((status, code, message))

    def reject_number(self, to: str, code: int = 21211, status: int = 400):
        self._rejected[to] = (status, code)

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
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- the API ----------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str):
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        form = {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}
        received = ReceivedRequest(method=method, path=handler.path, form=form, auth=_basic_auth(handler))
        with self._lock:
            self.requests.append(received)
        if self.delay:
            time.sleep(self.delay)
        status, payload = self._answer(method, handler.path, form, received.auth)
        received.status = status
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _answer(self, method, path, form, auth):
        match = MESSAGES_PATH.match(path.split("?", 1)[0])
        if method != "POST" or not match:
            return _error(404, 20404)
        if auth != (self.account_sid, self.auth_token) or match["sid"] != self.account_sid:
            return _error(401, 20003)
        with self._lock:
            scripted = self._scripted.popleft() if self._scripted else None
        if scripted:
            status, code, message = scripted
            return _error(status, code, message)
        to = form.get("To", "")
        if not to:
            return _error(400, 21604)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603)
        if not E164.match(to):
            return _error(400, 21211, to=to)
        if to in self._rejected:
            status, code = self._rejected[to]
            return _error(status, code, to=to)
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True)
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "to": to,
            "from": form.get("From"),
            "body": form.get("Body", ""),
            "status": "queued" if form.get("From") else "accepted",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "num_segments": "1",
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
        }
        with self._lock:
            self.messages.append(message)
        return 201, message


def _basic_auth(handler) -> tuple[str, str] | None:
    header = handler.headers.get("Authorization") or ""
    if not header.startswith("Basic "):
        return None
    try:
        user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def _error(status: int, code: int, message: str | None = None, **params):
    text = message or ERROR_TEXT.get(code, "Error").format(**params)
    return status, {
        "code": code,
        "message": text,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
