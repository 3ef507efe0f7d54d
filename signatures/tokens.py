"""The signing link's token (ARCHITECTURE §7: unguessable).

``token = HMAC-SHA256(SECRET_KEY, "<request id>:<nonce>")`` (hex, 256 bits), with a random
``secrets`` nonce per request. The request row keeps the nonce and ``SHA-256(token)`` — never the
token — so the signatures table alone (a backup, the admin, the API) yields no working link, while
the server can derive the link again for the reminder. Looking a token up by its hash is safe
without a salt: the token has 256 bits of entropy, so the hash cannot be reversed by guessing.

The link itself goes to the customer in their notification (its data and its SMS/e-mail text),
as any e-mailed link does; it stops working once the request is signed, expired or replaced.

If SECRET_KEY is rotated, a derived token no longer matches the stored hash: the reminder then
issues a fresh nonce and hash (``token_issue``) so the link it sends works, and the older link
stops working.
"""

import hashlib
import secrets

from django.utils.crypto import constant_time_compare, salted_hmac

KEY_SALT = "signatures.SignatureRequest.token"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_derive(*, request_id, nonce: str) -> str:
    return salted_hmac(KEY_SALT, f"{request_id}:{nonce}", algorithm="sha256").hexdigest()


def token_issue(request_id) -> tuple[str, str, str]:
    """A new (token, nonce, hash) for the request ``request_id``."""
    nonce = secrets.token_hex(16)
    token = token_derive(request_id=request_id, nonce=nonce)
    return token, nonce, token_hash(token)


def token_for(request) -> str | None:
    """The request's current token, or None when SECRET_KEY changed since it was issued."""
    token = token_derive(request_id=request.pk, nonce=request.token_nonce)
    return token if constant_time_compare(token_hash(token), request.token_hash) else None


def token_matches(request, token) -> bool:
    if not isinstance(token, str) or not token or len(token) > 200:
        return False
    return constant_time_compare(token_hash(token), request.token_hash)


def signing_path(token: str) -> str:
    """The customer's signing page (the page itself comes with the web pages)."""
    return f"/sign/{token}"
