"""API fuzzing (issue 10, item 6): schemathesis over every operation of ``/api/schema/``.

Each operation gets ``FUZZ_EXAMPLES`` (default 18) generated requests — valid and invalid ones —
in equal shares as anonymous (no token, or a malformed one), customer, vendor, onboard_manager,
ops_manager and super_admin, with real access tokens of users made fresh for the test
(core/tests/fuzzing.py). Every answer must be below 500 and match the schema: a documented status
code and content type, the documented headers and body; invalid input must be refused with a
4xx. The bench run (``bench/fuzz.py``) does the same with ≥ 100 examples per operation against
the production-style server.

DRF's rate throttles are raised for the run (``generous_throttles``), or most answers would be
429s; the rates themselves are asserted in bookings/tests/test_throttles.py and
core/tests/test_security.py. The other limits stay live — signing (10 a minute), one-time codes
(3 per number an hour, 5 tries a code), the login lockout (5 failures), chat (20 messages a
minute) — so their 429s, with ``Retry-After``, are checked against the schema too.

To reproduce a failure: ``FUZZ_SEED=<the seed in the message> pytest core/tests/test_api_fuzz.py``.
"""

import json
import os
import random

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.tests import fuzzing
from payments.models import WebhookEvent

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "18"))  # 3 per role

pytestmark = pytest.mark.django_db


def test_every_operation_answers_below_500_and_as_its_schema_says(settings):
    # given: fresh users for every role and objects for them to name
    settings.PAYMENT_GATEWAY = "fake"
    seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
    with fuzzing.generous_throttles(), fuzzing.in_process_app() as (app, tracebacks):
        world = fuzzing.build_world()
        schema = fuzzing.load_in_process(app)
        # when
        results = fuzzing.fuzz_schema(schema, world, max_examples=EXAMPLES, tracebacks=tracebacks, seed=seed)
    # then: every operation was reached, as every role, and none answered badly
    labels = {result.label for result in results}
    assert len(labels) == len(results) >= 69
    assert {"POST /api/bookings/", "POST /api/payments/{id}/confirm/", "POST /auth/login/"} <= labels
    for result in results:
        assert {role for role, _status in result.roles} == set(fuzzing.ROLES), result.label
    failed = [result for result in results if result.failed]
    assert not failed, f"seed {seed}\n" + fuzzing.report(failed)
    # and the objects were found at times, not only random ids
    reached = {
        result.label for result in results if "{id}" in result.label and result.statuses[200] + result.statuses[201]
    }
    assert {"GET /api/bookings/{id}/", "GET /api/payments/{id}/", "GET /api/signatures/{id}/"} <= reached


# The webhook is a plain Django view (the signature is checked on the raw body), so it is not in
# the OpenAPI schema. Without our signing secret nothing can be valid: whatever arrives, the
# answer is 400 and no event is recorded.
webhook_bodies = st.one_of(
    st.binary(max_size=2000),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=20,
    ).map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {"id": st.text(max_size=30), "type": st.sampled_from(["payment_intent.succeeded", "charge.refunded"])}
    ).map(lambda value: json.dumps(value).encode()),
)
signatures = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
    st.tuples(st.integers(min_value=0, max_value=2**33), st.text(alphabet="0123456789abcdef", max_size=64)).map(
        lambda parts: f"t={parts[0]},v1={parts[1]}"
    ),
)


@settings(max_examples=EXAMPLES * 4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(body=webhook_bodies, signature=signatures)
def test_webhook_refuses_whatever_is_not_signed_with_our_secret(body, signature):
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    response = Client().post("/api/payments/webhook/", data=body, content_type="application/json", **headers)
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": "Invalid or stale signature."}
    assert not WebhookEvent.objects.exists()
