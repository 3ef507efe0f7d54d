"""API fuzzing with schemathesis (issue 10, item 6), shared by the CI test (core/tests/test_api_fuzz.py)
and the bench run (bench/fuzz.py).

Every operation of the OpenAPI schema that drf-spectacular serves at ``/api/schema/`` gets about
``max_examples`` generated requests, valid and invalid ones (schemathesis' positive and negative
generation modes), in equal shares as each of ``ROLES``: with a real JWT access token of the
run's user of that role, or — "anonymous" — with whatever schemathesis generates for the security
schemes (nothing, a malformed bearer token, a random session cookie). Every other request names
objects that exist: in its path (a booking, payment, signature request… of the run's users) and,
for a valid request, in its body and query (a real service, vendor, address, bookable time…);
the others carry random values. Every answer is checked: no 5xx; a documented status code and
content type; headers and body as the schema says; invalid input refused with a 4xx.

The users and their data are made fresh for each run, through the same services a user goes
through (``build_world``), so a run never depends on, or locks out, accounts of an earlier one.
"""

import math
import time
import traceback
import uuid
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import hypothesis
import schemathesis
from django.core.signals import got_request_exception
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.jsonschema import make_validator
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.utils import read_from_wire

ROLES = ("anonymous", "customer", "vendor", "onboard_manager", "ops_manager", "super_admin")
PASSWORD = "Fuzz&Probe2026"

# The conformance checks run on every answer that is not a 5xx (a 5xx is counted on its own).
CONFORMANCE_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Invalid input (a generated request that breaks the schema) must be refused with a 4xx.
REJECTION_CHECKS = [negative_data_rejection]
# Checks that do not apply to an operation, with the reason.
NOT_APPLICABLE = {
    # §10: "POST /auth/password-reset/ {email} (always 200)": whatever is sent, the answer must not
    # tell whether an account has that address, so a malformed address is answered like an
    # unknown one (core/api/accounts.py).
    "POST /auth/password-reset/": {negative_data_rejection},
}


@dataclass
class World:
    """The run's users (an access token per role, ``None`` for anonymous) and the ids of objects
    they can reach, by the path a parameter belongs to."""

    tokens: dict
    ids: dict = field(default_factory=dict)
    # Body and query field name → values that mean something here (a real service, vendor,
    # address, a bookable time, a customer's phone or refresh token…), so that valid requests get
    # past "unknown service" to the code behind it. Never a password: DELETE /api/users/me/ with
    # the right one would anonymise the account and end its tokens mid-run.
    values: dict = field(default_factory=dict)

    def known_values(self, operation) -> dict:
        """Path parameter name → ids that exist, for the parameters of ``operation``."""
        path = operation.path
        known = {}
        for name in ("id", "photo_id"):
            if "{" + name + "}" not in path:
                continue
            resource = "photos" if name == "photo_id" else path.split("{id}")[0]
            values = self.ids.get(resource)
            if values:
                known[name] = values
        return known


def _at(day_offset: int, hour: int, now):
    from django.utils import timezone

    from bookings.availability import platform_zone

    day = timezone.localdate(now) + timedelta(days=day_offset)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=platform_zone())


def build_world(tag: str | None = None) -> World:
    """Fresh users for every role and objects for their ids to name: a customer with a saved
    address and bookings in several states (pending, confirmed with an authorised card, awaiting
    its signature with photos), an approved vendor with a service and time off, staff users."""
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from bookings.models import Booking, BookingPhoto
    from bookings.services.catalog import catalog_service_upsert, vendor_service_set
    from bookings.services.creation import booking_create
    from bookings.services.photos import photo_upload
    from bookings.services.transitions import booking_accept, booking_complete, booking_start
    from core.addresses import address_create
    from core.demo_data import DEMO_CARD, demo_photo
    from core.geo import pincode_coordinates
    from core.models import Notification, OnboardingStatus, Role
    from core.services import (
        user_mark_phone_verified,
        user_register,
        vendor_profile_update,
        vendor_set_onboarding_status,
        vendor_time_off_add,
    )
    from payments.checkout import active_attempt, attempt_prepare, payment_confirm
    from payments.models import PaymentAttempt
    from signatures.models import SignatureRequest
    from signatures.services import signature_request

    tag = tag or uuid.uuid4().hex[:8]
    now = timezone.now()
    serial = int(uuid.uuid4().int % 10**6)

    def register(role, index):
        return user_register(
            email=f"fuzz-{tag}-{role}@homeserve.test",
            password=PASSWORD,
            role=role,
            first_name="Fuzz",
            last_name=role.replace("_", " ").title(),
            phone=f"+91{7 if index else 8}{serial:06d}{index:03d}",
            username=f"fuzz-{tag}-{role}",
        )

    users = {role: register(role, index) for index, role in enumerate(ROLES[1:], start=1)}
    admin = users[Role.SUPER_ADMIN]
    services = [
        catalog_service_upsert(
            category_name="Fuzz cleaning",
            category_slug=f"fuzz-{tag}",
            name=f"Fuzz cleaning {n}",
            slug=f"fuzz-{tag}-{n}",
            base_price=Decimal("800.00"),
            duration_minutes=60,
            actor=admin,
        )
        for n in (1, 2)
    ]

    vendor_user = users[Role.VENDOR]
    vendor = vendor_user.vendor_profile
    lat, lng = pincode_coordinates("560034")
    vendor_profile_update(
        vendor=vendor,
        actor=vendor_user,
        pincodes=["560034"],
        display_name=f"Fuzz vendor {tag}",
        base_lat=lat,
        base_lng=lng,
        radius_km=Decimal("10.0"),
        working_hours={str(day): [["06:00", "22:00"]] for day in range(7)},
    )
    for service in services:
        vendor_service_set(vendor=vendor, service_id=service.pk, price=Decimal("900.00"), actor=vendor_user)
    user_mark_phone_verified(user=vendor_user, actor=users[Role.ONBOARD_MANAGER])
    vendor_set_onboarding_status(
        vendor=vendor, status=OnboardingStatus.APPROVED, actor=users[Role.ONBOARD_MANAGER], reason="Fuzz run"
    )
    vendor_time_off_add(
        vendor=vendor, actor=vendor_user, starts_at=_at(20, 8, now), ends_at=_at(20, 12, now), reason="Fuzz"
    )

    customer = users[Role.CUSTOMER]
    address = address_create(
        user=customer, line1="14, 5th Cross", city="Bengaluru", pincode="560034", label="Home", is_default=True
    )

    def book(start, *, method="cash", booked_at=None):
        return booking_create(
            customer=customer,
            lines=[{"service_id": services[0].pk, "quantity": 1}],
            scheduled_at=start,
            address_id=address.pk,
            vendor_id=str(vendor.pk),
            payment_method=method,
            now=booked_at or now,
        )

    book(_at(3, 10, now))  # pending: offered to the vendor
    confirmed = book(_at(4, 10, now), method="card")
    payment_confirm(attempt=attempt_prepare(attempt=active_attempt(confirmed)), user=customer, card=DEMO_CARD)
    booking_accept(booking=confirmed, user=vendor_user)
    # Done yesterday and photographed: awaiting the customer's signature.
    start = _at(-1, 10, now)
    done = book(start, booked_at=start - timedelta(days=2))
    done = booking_accept(booking=done, user=vendor_user, now=start - timedelta(days=2))
    done = booking_start(booking=done, user=vendor_user, now=start)
    for kind in ("before", "after"):
        photo_upload(booking=done, user=vendor_user, kind=kind, image_file=demo_photo(kind), now=start)
    done = booking_complete(booking=done, user=vendor_user, now=start + timedelta(hours=1))
    signature_request(booking=done, user=vendor_user)

    bookings = Booking.objects.filter(customer=customer)
    people = list(users.values())
    sign_tokens = [
        note.data["sign_path"].rsplit("/", 1)[1]
        for note in Notification.objects.filter(user=customer, kind="signature.requested")
    ]
    slots = [_at(day, hour, now) for day in (5, 6, 9) for hour in (9, 11, 15)]
    return World(
        tokens={
            "anonymous": None,
            **{role: str(RefreshToken.for_user(user).access_token) for role, user in users.items()},
        },
        ids={
            "/api/bookings/": [str(pk) for pk in bookings.values_list("pk", flat=True)],
            "photos": [
                str(pk) for pk in BookingPhoto.objects.filter(booking__in=bookings).values_list("pk", flat=True)
            ],
            "/api/notifications/": list(Notification.objects.filter(user__in=people).values_list("pk", flat=True)),
            "/api/payments/": [
                str(pk) for pk in PaymentAttempt.objects.filter(booking__in=bookings).values_list("pk", flat=True)
            ],
            "/api/services/": [service.pk for service in services],
            "/api/signatures/": [
                str(pk) for pk in SignatureRequest.objects.filter(booking__in=bookings).values_list("pk", flat=True)
            ],
            "/api/users/me/addresses/": [address.pk],
            "/api/vendors/": [str(vendor.pk)],
            "/api/vendors/me/time-off/": list(vendor.time_off.values_list("pk", flat=True)),
        },
        values={
            "service_id": [service.pk for service in services],
            "service": [str(services[0].pk), f"{services[0].pk},{services[1].pk}"],
            "vendor_id": [str(vendor.pk)],
            "vendor": [str(vendor.pk)],
            "address_id": [address.pk],
            "pincode": ["560034"],
            "scheduled_at": [slot.isoformat() for slot in slots],
            "starts_at": [slot.isoformat() for slot in slots],
            "ends_at": [(slot + timedelta(hours=3)).isoformat() for slot in slots],
            "date": [slot.date().isoformat() for slot in slots],
            "available_on": [slot.date().isoformat() for slot in slots],
            "booking": [str(booking.pk) for booking in bookings] + [booking.booking_number for booking in bookings],
            "token": sign_tokens,
            "phone": [customer.phone],
            "email": [customer.email],
            "username": [customer.username, customer.email],
            "refresh": [str(RefreshToken.for_user(customer)) for _ in range(3)],
        },
    )


@contextmanager
def generous_throttles():
    """Throttle rates high enough that fuzzing meets the code behind them, not 429s (the rates
    themselves are asserted in bookings/tests/test_throttles.py and core/tests/test_security.py).
    DRF's throttles read the rates dict bound at import, so that dict is the one to change."""
    from rest_framework.throttling import SimpleRateThrottle

    rates = SimpleRateThrottle.THROTTLE_RATES
    saved = dict(rates)
    rates.update(dict.fromkeys(saved, "1000000/min"))
    try:
        yield
    finally:
        rates.clear()
        rates.update(saved)


@contextmanager
def in_process_app():
    """Django's WSGI handler for schemathesis to call in this process and thread, inside the test's
    transaction: like Django's test client, it must not close the connection at each request.
    Yields the app and a list that collects the traceback of every exception a view raised."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    tracebacks = []

    def record(sender, request=None, **kwargs):
        tracebacks.append(traceback.format_exc())

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    got_request_exception.connect(record, weak=False)
    try:
        yield WSGIHandler(), tracebacks
    finally:
        got_request_exception.disconnect(record)
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@dataclass
class OperationResult:
    label: str
    examples: int = 0
    server_errors: int = 0
    schema_failures: int = 0
    accepted_invalid: int = 0
    statuses: Counter = field(default_factory=Counter)
    roles: Counter = field(default_factory=Counter)  # (role, status) → count
    findings: dict = field(default_factory=dict)  # first description of each kind → count
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.server_errors or self.schema_failures or self.accepted_invalid)

    def note(self, kind: str, text: str):
        key = f"{kind}: {text.strip().splitlines()[0] if text.strip() else kind}"
        if key not in self.findings and len(self.findings) < 5:
            self.findings[key] = text.strip()


def _failure_text(group: FailureGroup) -> str:
    return "\n".join(f"{failure.title}: {failure.message}" for failure in group.exceptions)


def _trimmed(value):
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {key: _trimmed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trimmed(item) for item in value]
    return value


def _valid_once_trimmed(case) -> bool:
    """Whether an invalid body is valid as DRF reads it: a CharField trims the whitespace around a
    string before it checks the length, so " x…" one character over maxLength is within it."""
    meta = case.meta
    others = (ParameterLocation.PATH, ParameterLocation.QUERY, ParameterLocation.HEADER)
    if not isinstance(case.body, dict) or any(meta.is_negative_at(location) for location in others):
        return False
    alternative = case.operation.get_body_for_media_type(case.media_type)
    if alternative is None:
        return False
    validator = make_validator(alternative.validation_schema, case.operation.schema.adapter.jsonschema_validator_cls)
    return validator.is_valid(_trimmed(case.body))


def _query_valid_as_read(case, response) -> bool:
    """Whether an invalid query is valid as Django reads it: of a parameter sent more than once
    (schemathesis sends a list or an object for a plain parameter that way) the last value
    counts, and an empty one means "not given"."""
    meta = case.meta
    others = (ParameterLocation.PATH, ParameterLocation.HEADER, ParameterLocation.BODY)
    if not meta.is_negative_at(ParameterLocation.QUERY) or any(meta.is_negative_at(other) for other in others):
        return False
    container = case.operation.get_parameter_set(ParameterLocation.QUERY)
    sent = parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)
    read = {name: values[-1] for name, values in sent.items() if container.get(name) is not None and values[-1]}
    return container.get_strict_validator().is_valid(read_from_wire(case.operation, ParameterLocation.QUERY, read))


def _sent(response) -> str:
    """What was sent (the headers as they went, tokens masked) and the answer's start."""
    headers = {
        name: "[masked]" if name.lower() in ("authorization", "cookie") else value
        for name, value in response.request.headers.items()
    }
    return f"sent {response.request.method} {response.request.url} {headers}\nanswer {response.text[:300]!r}"


def _case_strategy(operation):
    """Valid and invalid requests, in about equal numbers."""
    return st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )


def _substitute(value, known: dict):
    """``value`` (a body or query) with each field named in ``known`` set to its known value, in
    nested objects and lists too (a booking's ``lines``)."""
    if isinstance(value, dict):
        return {key: known[key] if key in known else _substitute(item, known) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, known) for item in value]
    return value


def fuzz_operation(
    operation, world: World, *, max_examples: int, base_url=None, session=None, tracebacks=None, seed=None
) -> OperationResult:
    """Send about ``max_examples`` generated requests to ``operation``, an equal share as each role,
    and check every answer; findings are counted, not raised, so one run reports every operation.
    (An operation with nothing to vary, like ``GET /api/ping/``, gets one request per role.)"""
    result = OperationResult(label=operation.label)
    known = world.known_values(operation)
    ids = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in known.items()})
    values = st.fixed_dictionaries({name: st.sampled_from(v) for name, v in world.values.items() if v})
    strategy = _case_strategy(operation)
    skipped = NOT_APPLICABLE.get(operation.label, set())
    per_role = math.ceil(max_examples / len(ROLES))

    def send(case, role, real_ids, real_values):
        # Every other request names objects that exist, in its path (except a path made invalid on
        # purpose: a malformed id tests the 404) and, for a valid request, in its body and query.
        if result.roles.total() % 2:
            if known and not case.meta.is_negative_at(ParameterLocation.PATH):
                case.path_parameters = {**(case.path_parameters or {}), **{k: str(v) for k, v in real_ids.items()}}
            if case.meta.generation.mode.is_positive:
                if isinstance(case.body, dict):
                    case.body = _substitute(case.body, real_values)
                if case.query:
                    case.query = _substitute(dict(case.query), {k: str(v) for k, v in real_values.items()})
        token = world.tokens[role]
        if token:
            # Set on the case, not passed to call(): schemathesis then knows that a generated
            # (possibly invalid) Authorization header was replaced by a valid one.
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        before = len(tracebacks) if tracebacks is not None else 0
        response = case.call(base_url=base_url, session=session)
        result.examples += 1
        result.statuses[response.status_code] += 1
        result.roles[role, response.status_code] += 1
        if response.status_code >= 500:
            result.server_errors += 1
            detail = tracebacks[-1] if tracebacks and len(tracebacks) > before else response.text[:2000]
            result.note(f"{response.status_code} as {role}", f"{case.as_curl_command()}\n{detail}")
            return
        for checks, kind in ((CONFORMANCE_CHECKS, "schema"), (REJECTION_CHECKS, "accepted invalid")):
            checks = [check for check in checks if check not in skipped]
            if not checks:
                continue
            try:
                case.validate_response(response, checks=checks)
            except FailureGroup as group:
                if kind == "accepted invalid" and (_valid_once_trimmed(case) or _query_valid_as_read(case, response)):
                    continue
                if kind == "schema":
                    result.schema_failures += 1
                else:
                    result.accepted_invalid += 1
                result.note(
                    f"{kind} as {role}",
                    f"{_failure_text(group)}\n{case.as_curl_command()}\n{_sent(response)}\ngenerated {case!r}"[:5000],
                )

    def as_role(role):
        def test(case, real_ids, real_values):
            send(case, role, real_ids, real_values)

        return test

    began = time.perf_counter()
    for role in ROLES:
        run = hypothesis.settings(
            max_examples=per_role,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=hypothesis.Verbosity.quiet,
        )(hypothesis.given(case=strategy, real_ids=ids, real_values=values)(as_role(role)))
        if seed is not None:
            # One seed per operation and role, so that the roles do not all get the same requests.
            run = hypothesis.seed(zlib.crc32(f"{seed}:{operation.label}:{role}".encode()))(run)
        run()
    result.seconds = time.perf_counter() - began
    return result


def operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


def fuzz_schema(schema, world: World, *, on_result=None, **options) -> list[OperationResult]:
    """``fuzz_operation`` for every operation of ``schema``, in the schema's order."""
    results = []
    for operation in operations(schema):
        result = fuzz_operation(operation, world, **options)
        results.append(result)
        if on_result:
            on_result(result)
    return results


def load_in_process(app):
    return schemathesis.openapi.from_wsgi("/api/schema/", app)


def table(results) -> tuple[list[str], list[list]]:
    headers = ["operation", "examples", "5xx", "schema failures", "accepted invalid", "statuses", "s"]
    rows = [
        [
            r.label,
            r.examples,
            r.server_errors,
            r.schema_failures,
            r.accepted_invalid,
            " ".join(f"{code}×{n}" for code, n in sorted(r.statuses.items())),
            f"{r.seconds:.1f}",
        ]
        for r in results
    ]
    return headers, rows


def report(results) -> str:
    lines = []
    for r in results:
        if r.failed:
            counts = f"5xx {r.server_errors}, schema {r.schema_failures}, invalid accepted {r.accepted_invalid}"
            lines.append(f"== {r.label}: {counts}")
            for text in r.findings.values():
                lines.append(text)
                lines.append("--")
    return "\n".join(lines)
