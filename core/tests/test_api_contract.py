"""The error contract of ARCHITECTURE §10 where the API fuzzer (test_api_fuzz.py) found it broken:
each test is one finding, kept as a plain regression test."""

from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from core.models import VendorTimeOff
from core.tests.factories import CustomerFactory, VendorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_api(client_for):
    return client_for(CustomerFactory())


@pytest.mark.parametrize(
    "path", ["/api/bookings/not-a-uuid/", "/api/services/-2.5/", "/api/users/me/addresses/x/", "/auth/nowhere/"]
)
def test_a_path_no_route_matches_is_a_json_404(customer_api, path):
    response = customer_api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_pages_keep_their_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("size", ["1.5", "abc", "0", "-3"])
def test_a_malformed_page_size_is_bad_input(customer_api, size):
    response = customer_api.get(f"/api/notifications/?page_size={size}")
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_an_empty_or_large_page_size_means_the_default_or_the_maximum(customer_api):
    assert customer_api.get("/api/notifications/?page_size=").status_code == 200
    assert customer_api.get("/api/notifications/?page_size=5000").status_code == 200


@pytest.mark.parametrize(("path", "name"), [("/api/notifications/", "unread"), ("/api/signatures/", "needs_attention")])
def test_a_boolean_filter_takes_true_or_false_only(customer_api, path, name):
    assert customer_api.get(f"{path}?{name}=null").status_code == 400
    assert customer_api.get(f"{path}?{name}=maybe").status_code == 400
    assert customer_api.get(f"{path}?{name}=").status_code == 200
    assert customer_api.get(f"{path}?{name}=false").status_code == 200


@pytest.mark.parametrize(
    ("starts", "ends", "field"),
    [
        (timedelta(days=-3), timedelta(days=-2), "ends_at"),  # already over
        (timedelta(days=400), timedelta(days=401), "starts_at"),  # more than a year ahead
        (timedelta(days=-300), timedelta(days=100), "ends_at"),  # longer than a year
    ],
)
def test_time_off_must_be_current_and_within_a_year(client_for, starts, ends, field):
    vendor = VendorFactory()
    now = timezone.now()
    response = client_for(vendor.user).post(
        "/api/vendors/me/time-off/",
        {"starts_at": (now + starts).isoformat(), "ends_at": (now + ends).isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not VendorTimeOff.objects.exists()


def test_the_schema_documents_the_errors_an_operation_can_answer():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    booking = schema["paths"]["/api/bookings/{id}/cancel/"]["post"]
    assert {"200", "400", "401", "403", "404", "409", "415", "422"} <= set(booking["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in booking["parameters"])
    assert list(booking["requestBody"]["content"]) == ["application/json"]  # the API speaks JSON
    login = schema["paths"]["/auth/login/"]["post"]
    assert "422" not in login["responses"]  # /auth/ takes no Idempotency-Key
    assert login["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    vendors = schema["paths"]["/api/vendors/"]["get"]
    assert "403" not in vendors["responses"]  # open to anyone
    distance = schema["components"]["schemas"]["VendorList"]["properties"]["distance_km"]
    assert distance["nullable"] is True
