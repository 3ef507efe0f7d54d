"""The running platform: health, API schema, production settings, demo data, scheduler."""

import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings

from bookings.models import Booking, BookingStatus
from core.layers import redis_channel_layer
from core.models import AuditLog, OnboardingStatus, Role, User, VendorProfile

ROOT = Path(settings.BASE_DIR)


@pytest.mark.django_db
def test_healthz_checks_database_cache_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "channel_layer": "ok"}


@pytest.mark.redis
@pytest.mark.django_db
def test_healthz_reports_a_real_redis_channel_layer(client, settings):
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(settings.TEST_REDIS_URL)}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.json()["channel_layer"] == "ok"


@pytest.mark.django_db
def test_healthz_says_503_when_a_dependency_fails(client, settings):
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer("redis://127.0.0.1:1")}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json()["channel_layer"].startswith("error")


def test_openapi_schema_generates_without_warnings_and_validates():
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", os.devnull],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings.test", "TEST_DB": "sqlite"},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/bookings/{id}/accept_booking/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI comes from the installed sidecar package, never from a CDN
    import re

    assets = re.findall(rb'(?:src|href)="([^"]+)"', docs.content)
    assert assets and all(asset.startswith(b"/static/") for asset in assets)


def test_production_settings_pass_check_deploy():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "homeserve.example",
        "DATABASE_URL": "postgres://homeserve@db.internal:5432/homeserve",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "PAYMENT_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_" + secrets.token_hex(12),
        "STRIPE_PUBLISHABLE_KEY": "pk_test_" + secrets.token_hex(12),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(12),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update({"DJANGO_SETTINGS_MODULE": "marketplace.settings.production", "ALLOWED_HOSTS": "x.example"})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_covers_the_roles_catalog_vendors_and_statuses():
    from core.demo_data import DEMO_ACCOUNTS, seed_demo

    # when
    first = seed_demo()
    users, audit_rows = User.objects.count(), AuditLog.objects.count()
    second = seed_demo()
    # then
    assert first["bookings"] >= 6 and second["bookings"] == 0
    assert User.objects.count() == users and AuditLog.objects.count() == audit_rows
    assert {role for role, *_ in DEMO_ACCOUNTS} == set(Role.values)
    for _role, email, password, *_ in DEMO_ACCOUNTS:
        assert User.objects.get(email=email).check_password(password)
    assert first["services"] >= 8
    from bookings.models import ServiceCategory

    assert ServiceCategory.objects.count() >= 4
    approved = VendorProfile.objects.filter(onboarding_status=OnboardingStatus.APPROVED)
    assert approved.count() >= 8
    assert len({p for v in approved for p in v.pincodes.values_list("pincode", flat=True)}) >= 3
    assert all(v.working_hours and v.services.exists() for v in approved)
    statuses = set(Booking.objects.values_list("status", flat=True))
    assert {
        BookingStatus.PENDING,
        BookingStatus.CONFIRMED,
        BookingStatus.IN_PROGRESS,
        BookingStatus.COMPLETED,
        BookingStatus.CANCELLED,
        BookingStatus.EXPIRED,
    } <= statuses
    for booking in Booking.objects.all():
        assert booking.total == booking.vendor_earning + booking.platform_fee + booking.tax


@pytest.mark.django_db(transaction=True)
def test_in_process_scheduler_runs_the_periodic_jobs(settings):
    """The embedded run has no celery beat: the scheduler thread must fire the jobs itself."""
    from core.scheduler import run_scheduler_forever

    fired = threading.Event()
    settings.CELERY_BEAT_SCHEDULE = {"probe": {"task": "core.tests.probe", "schedule": 0.05}}
    from marketplace.celery import app

    @app.task(name="core.tests.probe")
    def probe():
        fired.set()

    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler_forever, args=(stop,), kwargs={"tick": 0.05, "first_delay": 0})
    thread.start()
    try:
        assert fired.wait(timeout=5)
    finally:
        stop.set()
        thread.join(timeout=5)


@pytest.mark.django_db
def test_every_demo_role_signs_in_where_it_works(api_client):
    from django.test import Client

    from core.demo_data import DEMO_ACCOUNTS, seed_demo

    seed_demo()
    for role, email, password, *_ in DEMO_ACCOUNTS:
        # everyone can get API tokens with the printed password
        login = api_client.post("/auth/login/", {"username": email, "password": password}, format="json")
        assert login.status_code == 200, (role, login.content)
        assert login.json()["user"]["role"] == role
        # only staff get into the admin
        browser = Client()
        response = browser.post(
            "/admin/login/?next=/admin/", {"username": email.split("@")[0], "password": password}, follow=True
        )
        in_admin = response.request["PATH_INFO"] == "/admin/"
        assert in_admin == (role in {Role.ONBOARD_MANAGER, Role.OPS_MANAGER, Role.SUPER_ADMIN}), role
