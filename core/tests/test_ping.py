"""``GET /api/ping/``: the process answers without authentication, throttling or the database."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient


def test_ping_answers_anyone_without_touching_the_database(db, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "2/min"},
    }
    client = APIClient()
    with CaptureQueriesContext(connection) as queries:
        answers = [client.get("/api/ping/") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200] * 5
    assert answers[0].json() == {"pong": True}
    assert len(queries) == 0
    assert client.post("/api/ping/").status_code == 405
