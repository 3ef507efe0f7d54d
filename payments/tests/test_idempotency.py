"""``Idempotency-Key`` on POST requests (ARCHITECTURE §6; payments/idempotency.py)."""

import hashlib
import json
import threading
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from bookings.models import Booking
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import PromoCodeFactory, ServiceFactory, VendorServiceFactory
from core.tests.factories import CustomerFactory, VendorFactory
from payments.idempotency import idempotency_records_purge, request_fingerprint
from payments.models import IdempotencyRecord
from payments.tasks import purge_idempotency_records
from payments.tests import urls as test_urls

KEY = "3f0c6a52-5b8e-4a51-9d55-0f6f1d1a2b7c"
MISMATCH = "This Idempotency-Key was used with a different request."


@pytest.fixture
def service(db):
    return ServiceFactory(name="Deep cleaning", duration_minutes=120)


@pytest.fixture
def vendor(db, service):
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    return vendor


@pytest.fixture
def customer(db):
    return CustomerFactory()


@pytest.fixture
def booking_payload(service, vendor):
    def make(days_ahead=3, hour=10):
        return {
            "service_id": service.pk,
            "scheduled_at": local_time(days_ahead, hour).isoformat(),
            "address": ADDRESS,
            "vendor_id": str(vendor.pk),
            "payment_method": "card",
        }

    return make


@pytest.fixture
def test_views(settings):
    """The project's URLs plus the test-only views of payments/tests/urls.py."""
    settings.ROOT_URLCONF = "payments.tests.urls"
    test_urls.CALLS.clear()
    yield test_urls.CALLS
    test_urls.CALLS.clear()


def _post(client, path, data, key=KEY, **kwargs):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(path, data, format=kwargs.pop("format", "json"), headers=headers, **kwargs)


def _replayed(response):
    return response.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.django_db
def test_same_key_and_body_creates_the_booking_once_and_replays_the_first_response(
    client_for, customer, booking_payload
):
    # given
    api = client_for(customer)
    payload = booking_payload()
    first = _post(api, "/api/bookings/", payload)
    assert first.status_code == 201, first.json()
    assert not _replayed(first)
    # when: the client retries, e.g. after a timeout
    second = _post(api, "/api/bookings/", payload)
    # then
    assert second.status_code == 201
    assert _replayed(second)
    assert second.content == first.content
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert second.json()["id"] == first.json()["id"]
    assert Booking.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.owner, record.user, record.key, record.state) == (f"user:{customer.pk}", customer, KEY, "done")


@pytest.mark.django_db
def test_same_key_with_another_request_is_refused_with_422_and_creates_nothing(client_for, customer, booking_payload):
    # given
    api = client_for(customer)
    assert _post(api, "/api/bookings/", booking_payload(hour=10)).status_code == 201
    # when: another body, another query string, another endpoint — all with the same key
    other_body = _post(api, "/api/bookings/", booking_payload(hour=15))
    other_query = _post(api, "/api/bookings/?source=app", booking_payload(hour=10))
    other_path = _post(api, "/api/promo-codes/validate/", {"code": "WELCOME10", "amount": "100.00"})
    # then
    for response in (other_body, other_query, other_path):
        assert response.status_code == 422
        assert response.json() == {"detail": MISMATCH}
    assert Booking.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db
def test_a_key_used_by_another_caller_is_independent(client_for, customer, booking_payload):
    # given: one customer booked with the key
    other_customer = CustomerFactory()
    first = _post(client_for(customer), "/api/bookings/", booking_payload(hour=10))
    assert first.status_code == 201
    # when: another customer uses the same key for their own booking
    second = _post(client_for(other_customer), "/api/bookings/", booking_payload(hour=15))
    # then: it ran as a new request: neither a 422 nor the first customer's booking
    assert second.status_code == 201, second.json()
    assert not _replayed(second)
    assert second.json()["id"] != first.json()["id"]
    assert Booking.objects.get(pk=second.json()["id"]).customer == other_customer
    assert Booking.objects.count() == 2
    assert sorted(IdempotencyRecord.objects.values_list("owner", flat=True)) == sorted(
        [f"user:{customer.pk}", f"user:{other_customer.pk}"]
    )


@pytest.mark.django_db
def test_a_request_without_the_header_behaves_as_before(client_for, customer, booking_payload):
    # given
    api = client_for(customer)
    payload = booking_payload()
    # when: the same booking posted twice without a key
    first = _post(api, "/api/bookings/", payload, key=None)
    second = _post(api, "/api/bookings/", payload, key=None)
    # then: the second one ran again and found the slot taken
    assert first.status_code == 201
    assert second.status_code == 409
    assert not _replayed(second)
    assert Booking.objects.count() == 1
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_a_4xx_first_response_is_replayed_too(client_for, customer):
    """A request the view considered and refused (here an unknown promo code) keeps its answer
    under its key, even once the same request would succeed: to send it again, use a new key."""
    # given: the code does not exist yet
    api = client_for(customer)
    body = {"code": "MONSOON20", "amount": "1000.00"}
    first = _post(api, "/api/promo-codes/validate/", body)
    assert first.status_code == 400
    PromoCodeFactory(code="MONSOON20")
    # when
    retry = _post(api, "/api/promo-codes/validate/", body)
    fresh = _post(api, "/api/promo-codes/validate/", body, key="another-key")
    # then
    assert retry.status_code == 400
    assert _replayed(retry)
    assert retry.content == first.content
    assert fresh.status_code == 200, fresh.json()
    assert fresh.json()["valid"] is True


@pytest.mark.django_db
def test_a_5xx_is_not_stored_so_the_client_may_retry_with_the_same_key(client_for, customer, test_views):
    # given
    api = client_for(customer)
    api.raise_request_exception = False
    # when: the view raises
    failed = _post(api, "/api/test-idempotency/fails-once/", {"n": 1})
    # then: nothing is kept, and a retry with the same key runs the view again
    assert failed.status_code == 500
    assert not IdempotencyRecord.objects.exists()
    retried = _post(api, "/api/test-idempotency/fails-once/", {"n": 1})
    assert retried.status_code == 201
    assert not _replayed(retried)
    assert retried.json() == {"call": 2}
    # and that success is what the key replays from now on
    again = _post(api, "/api/test-idempotency/fails-once/", {"n": 1})
    assert (again.status_code, again.json(), _replayed(again)) == (201, {"call": 2}, True)
    assert test_views["fails-once"] == 2


@pytest.mark.django_db
def test_a_streaming_response_is_not_stored(client_for, customer, test_views):
    api = client_for(customer)
    first = _post(api, "/api/test-idempotency/stream/", {})
    second = _post(api, "/api/test-idempotency/stream/", {})
    assert b"".join(first.streaming_content) == b"call 1"
    assert b"".join(second.streaming_content) == b"call 2"
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_a_request_whose_key_is_still_in_progress_gets_409(client_for, customer, booking_payload):
    # given: the first request with the key is still running
    api = client_for(customer)
    body = json.dumps(booking_payload()).encode()
    IdempotencyRecord.objects.create(
        owner=f"user:{customer.pk}",
        user=customer,
        key=KEY,
        method="POST",
        path="/api/bookings/",
        request_hash=request_fingerprint(method="POST", path="/api/bookings/", body=body),
        state=IdempotencyRecord.State.IN_PROGRESS,
    )
    # when
    response = api.post("/api/bookings/", body, content_type="application/json", headers={"Idempotency-Key": KEY})
    # then
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    assert "detail" in response.json()
    assert not Booking.objects.exists()
    assert IdempotencyRecord.objects.get().state == "in_progress"


@pytest.mark.django_db
def test_a_key_for_another_request_is_refused_even_while_in_progress(client_for, customer, booking_payload):
    api = client_for(customer)
    IdempotencyRecord.objects.create(
        owner=f"user:{customer.pk}", key=KEY, method="POST", path="/api/bookings/", request_hash="0" * 64
    )
    response = _post(api, "/api/bookings/", booking_payload())
    assert response.status_code == 422
    assert response.json() == {"detail": MISMATCH}
    assert not Booking.objects.exists()


@pytest.mark.django_db
def test_a_record_older_than_24_hours_no_longer_binds_its_key(client_for, customer, booking_payload):
    # given: the key was used for another request 25 hours ago
    api = client_for(customer)
    IdempotencyRecord.objects.create(
        owner=f"user:{customer.pk}",
        key=KEY,
        method="POST",
        path="/api/bookings/",
        request_hash="0" * 64,
        state=IdempotencyRecord.State.DONE,
        response_status=201,
        response_body=b"{}",
        response_content_type="application/json",
        created_at=timezone.now() - timedelta(hours=25),
    )
    # when
    response = _post(api, "/api/bookings/", booking_payload())
    # then
    assert response.status_code == 201
    assert not _replayed(response)
    assert Booking.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert record.created_at > timezone.now() - timedelta(minutes=1)
    assert record.response_status == 201


@pytest.mark.django_db
def test_the_purge_task_deletes_records_older_than_24_hours_only(customer):
    # given
    now = timezone.now()
    for key, age in (("old", timedelta(hours=25)), ("edge", timedelta(hours=24)), ("recent", timedelta(hours=23))):
        IdempotencyRecord.objects.create(
            owner=f"user:{customer.pk}", key=key, method="POST", path="/", request_hash="0" * 64, created_at=now - age
        )
    # when
    deleted = purge_idempotency_records()
    # then
    assert deleted == 2
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    assert idempotency_records_purge(now=now) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
def test_an_empty_or_too_long_key_is_refused_with_400(client_for, customer, booking_payload, key):
    response = _post(client_for(customer), "/api/bookings/", booking_payload(), key=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert not Booking.objects.exists()
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_a_key_of_255_characters_is_accepted(client_for, customer, booking_payload):
    response = _post(client_for(customer), "/api/bookings/", booking_payload(), key="k" * 255)
    assert response.status_code == 201
    assert IdempotencyRecord.objects.get().key == "k" * 255


@pytest.mark.django_db
def test_a_bad_token_is_answered_401_by_the_view_and_not_stored(api_client, booking_payload):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    first = _post(api_client, "/api/bookings/", booking_payload())
    second = _post(api_client, "/api/bookings/", booking_payload())
    assert first.status_code == second.status_code == 401
    assert not _replayed(second)
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_session_and_anonymous_callers_are_scoped_too(api_client, customer, test_views):
    # given: a logged-in session and an anonymous caller use one key on one endpoint
    session = APIClient()
    session.force_login(customer)
    # when
    by_session = _post(session, "/api/test-idempotency/echo/", {"who": "session"})
    anonymous = _post(api_client, "/api/test-idempotency/echo/", {"who": "anonymous"})
    anonymous_again = _post(api_client, "/api/test-idempotency/echo/", {"who": "anonymous"})
    # then: two independent records; the anonymous retry replays the anonymous answer
    assert (by_session.status_code, anonymous.status_code) == (200, 200)
    assert anonymous_again.json() == anonymous.json() == {"call": 2, "fields": {"who": "anonymous"}, "files": {}}
    assert _replayed(anonymous_again)
    assert sorted(IdempotencyRecord.objects.values_list("owner", "user")) == [
        ("anon:127.0.0.1", None),
        (f"user:{customer.pk}", customer.pk),
    ]


@pytest.mark.django_db
def test_an_upload_larger_than_the_in_memory_limit_reaches_the_view_intact(api_client, settings, test_views):
    # given: bodies over DATA_UPLOAD_MAX_MEMORY_SIZE are fine for a multipart upload
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 4096
    content = bytes(range(256)) * 200  # 51,200 bytes
    upload = SimpleUploadedFile("licence.pdf", content, content_type="application/pdf")

    def send(file):
        return _post(api_client, "/api/test-idempotency/echo/", {"kind": "licence", "file": file}, format="multipart")

    # when
    first = send(upload)
    upload.seek(0)
    second = send(upload)
    changed = send(SimpleUploadedFile("licence.pdf", content[:-1] + b"x", content_type="application/pdf"))
    # then
    assert first.status_code == 200, first.content
    digest = hashlib.sha256(content).hexdigest()
    assert first.json() == {"call": 1, "fields": {"kind": "licence"}, "files": {"file": digest}}
    assert _replayed(second)
    assert second.json() == first.json()
    assert changed.status_code == 422
    assert test_views["echo"] == 1


@pytest.mark.django_db
def test_the_webhook_is_exempt(api_client, test_views):
    first = _post(api_client, "/api/payments/webhook/", {"id": "evt_1"})
    second = _post(api_client, "/api/payments/webhook/", {"id": "evt_1"})
    assert (first.json(), second.json()) == ({"call": 1}, {"call": 2})
    assert not _replayed(second)
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_run_once():
    # given: ten copies of one booking request with one key, released at the same instant
    service = ServiceFactory(duration_minutes=60)
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    customer = CustomerFactory()
    token = str(RefreshToken.for_user(customer).access_token)
    payload = {
        "service_id": service.pk,
        "scheduled_at": local_time(2, 10).isoformat(),
        "address": ADDRESS,
        "vendor_id": str(vendor.pk),
        "payment_method": "card",
    }
    copies = 10
    barrier = threading.Barrier(copies)
    results = [None] * copies

    def worker(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            barrier.wait(timeout=30)
            response = _post(client, "/api/bookings/", payload)
            results[index] = (response.status_code, _replayed(response), response.json(), response.get("Retry-After"))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then: one booking; one original 201, the rest replays of it or 409 "still in progress"
    assert None not in results
    assert Booking.objects.count() == 1
    booking_id = str(Booking.objects.get().pk)
    originals = [body for status, replayed, body, _retry in results if status == 201 and not replayed]
    replays = [body for status, replayed, body, _retry in results if status == 201 and replayed]
    # a 409 here is the middleware's "still in progress", never the view's "slot taken": only
    # the winner reached the view
    in_progress = [body for status, _, body, retry in results if status == 409 and retry == "1"]
    assert len(originals) == 1
    assert len(originals) + len(replays) + len(in_progress) == copies, results
    assert all(body["id"] == booking_id for body in originals + replays)
    assert all("still being processed" in body["detail"] for body in in_progress)
    assert IdempotencyRecord.objects.get().state == "done"


def test_sign_in_answers_are_never_stored_because_they_carry_tokens(api_client, customer):
    body = {"username": customer.email, "password": "Str0ng!pass"}
    first = _post(api_client, "/auth/login/", body)
    second = _post(api_client, "/auth/login/", body)
    assert first.status_code == second.status_code == 200
    assert not _replayed(second)
    assert first.json()["access"] != second.json()["access"] or first.json()["refresh"] != second.json()["refresh"]
    assert not IdempotencyRecord.objects.exists()
