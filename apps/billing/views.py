"""Stripe's webhook endpoint. Not a page and not the REST API: Stripe POSTs signed events here (README, "Stripe").
The body is read raw (the signature is over the exact bytes), CSRF does not apply (the signature does), and
the answer is what Stripe expects: 2xx for an event taken (or one we do not handle), 400 for one that must
never be retried, 5xx for a failure that a retry may fix."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.billing.services import stripe_event_receive


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    status, message = stripe_event_receive(payload=request.body, signature=request.headers.get("Stripe-Signature"))
    return JsonResponse({"received": status == 200, "message": message}, status=status)
