"""POST /api/payments/webhook/: a plain Django view, because the signature is checked on the raw
body exactly as sent (no parser may touch it first), there is no user, and no CSRF token."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.gateways.errors import WebhookSignatureInvalid
from payments.webhooks import webhook_receive

MAX_WEBHOOK_BYTES = 512 * 1024


@csrf_exempt
@require_POST
def payment_webhook(request):
    if int(request.headers.get("Content-Length") or 0) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"detail": "Too large."}, status=413)
    signature = request.headers.get("Stripe-Signature", "")
    try:
        outcome = webhook_receive(
            payload=request.body, signature_header=signature, gateway_name=settings.PAYMENT_GATEWAY
        )
    except WebhookSignatureInvalid:
        return JsonResponse({"detail": "Invalid or stale signature."}, status=400)
    return JsonResponse({"status": outcome.state, "detail": outcome.detail}, status=outcome.status_code)
