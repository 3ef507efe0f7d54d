"""Strict JSON strings for the whole API.

DRF's ``CharField`` (and so ``EmailField``, ``RegexField``, ``SlugField``…) turns a JSON number
into a string: ``{"name": 0.5}`` is accepted as the name "0.5". Our API documents those fields as
strings (OpenAPI ``type: string``), and a number there is a client's mistake to answer with 400,
as schemathesis' negative cases check (core/tests/test_api_fuzz.py). Query parameters and form
fields are strings anyway, so this changes only what JSON bodies may send.

Installed once at start-up (``CoreConfig.ready``) rather than by swapping the 80-odd field
declarations for a subclass, so that no string field — ours or a library's serializer such as
simplejwt's — can slip back to the lenient behaviour.
"""

from rest_framework import fields

_lenient = fields.CharField.to_internal_value


def _strict_to_internal_value(self, data):
    if not isinstance(data, str):
        self.fail("invalid")
    return _lenient(self, data)


def install():
    if fields.CharField.to_internal_value is not _strict_to_internal_value:
        fields.CharField.to_internal_value = _strict_to_internal_value
