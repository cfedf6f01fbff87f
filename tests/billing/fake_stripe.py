"""A local Stripe for the tests: the few endpoints Credence calls (Checkout Sessions, Identity VerificationSessions,
balance transactions), over HTTP on loopback, speaking Stripe's wire format (form-encoded parameters with
bracketed keys, JSON answers, the Idempotency-Key header replaying the first answer). `localstripe` serves
customers, PaymentIntents and refunds but not Checkout nor Identity, the two APIs Credence uses, so this stands
in for it. The tests move a session's state themselves (`pay`, `verify`), as a person on Stripe's page would,
then send the signed event Stripe would send (`signed_event`)."""

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import stripe

WEBHOOK_SECRET = "whsec_credence_tests"
SECRET_KEY = "sk_test_credence"
_ids = itertools.count(1)


def _nest(pairs: list[tuple[str, str]]) -> dict:
    """`a[b][0][c]=v` form pairs back into nested dicts and lists, as Stripe reads them."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part, following in zip(parts, [*parts[1:], None], strict=True):
            if following is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


class FakeStripe:
    def __init__(self) -> None:
        self.sessions: dict[str, dict] = {}
        self.verifications: dict[str, dict] = {}
        self.balance_transactions: list[dict] = []
        self.replies: dict[str, tuple[int, dict]] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.fail_next = 0  # answer the next n creating calls with a 500 (Stripe down)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                self._answer(*fake.handle("GET", url.path, _nest(parse_qsl(url.query)), None))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                params = _nest(parse_qsl(self.rfile.read(length).decode()))
                self._answer(*fake.handle("POST", self.path, params, self.headers.get("Idempotency-Key")))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what Stripe does ---

    def handle(self, method: str, path: str, params: dict, key: str | None) -> tuple[int, dict]:
        with self.lock:
            self.requests.append((method, path, params))
            if key and key in self.replies:
                return self.replies[key]
            if method == "POST" and self.fail_next:
                self.fail_next -= 1
                return 500, {"error": {"type": "api_error", "message": "Stripe is down (fake)."}}
            reply = self._route(method, path, params)
            if key:
                self.replies[key] = reply
            return reply

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/checkout/sessions":
            session_id = f"cs_test_{next(_ids)}"
            line = params["line_items"][0]["price_data"]
            self.sessions[session_id] = {
                "id": session_id,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.test/pay/{session_id}",
                "status": "open",
                "payment_status": "unpaid",
                "payment_intent": None,
                "amount_total": int(line["unit_amount"]),
                "currency": line["currency"],
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata", {}),
                "success_url": params["success_url"],
                "cancel_url": params["cancel_url"],
                "customer_email": params.get("customer_email"),
            }
            return 200, self.sessions[session_id]
        if match := re.fullmatch(r"/v1/checkout/sessions/([\w]+)", path):
            session = self.sessions.get(match[1])
            return (200, session) if session else _missing(match[1])
        if method == "POST" and path == "/v1/identity/verification_sessions":
            vs_id = f"vs_test_{next(_ids)}"
            self.verifications[vs_id] = {
                "id": vs_id,
                "object": "identity.verification_session",
                "status": "requires_input",
                "type": params.get("type"),
                "url": f"https://verify.stripe.test/start/{vs_id}",
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata", {}),
                "last_error": None,
                "last_verification_report": None,
                "options": params.get("options", {}),
                "return_url": params.get("return_url"),
            }
            return 200, self.verifications[vs_id]
        if match := re.fullmatch(r"/v1/identity/verification_sessions/([\w]+)", path):
            session = self.verifications.get(match[1])
            if session is None:
                return _missing(match[1])
            expand = params.get("expand") or []
            report = session.get("_report")
            shown = {k: v for k, v in session.items() if not k.startswith("_")}
            if report is not None:
                report = dict(report, document=dict(report["document"]))
                if "last_verification_report.document.number" not in expand:
                    report["document"].pop("number", None)
                shown["last_verification_report"] = report if "last_verification_report" in expand else report["id"]
            return 200, shown
        if path == "/v1/balance_transactions":
            return 200, {
                "object": "list",
                "url": "/v1/balance_transactions",
                "has_more": False,
                "data": self.balance_transactions,
            }
        return 404, {"error": {"type": "invalid_request_error", "message": f"No route {method} {path} (fake)."}}

    # --- what a person on Stripe's pages does ---

    def pay(self, session_id: str, *, intent: str | None = None, paid: bool = True) -> dict:
        """The person paid (or, `paid=False`, completed with a payment still processing, e.g. a bank debit)."""
        with self.lock:
            session = self.sessions[session_id]
            session["status"] = "complete"
            session["payment_status"] = "paid" if paid else "unpaid"
            session["payment_intent"] = intent or f"pi_test_{session_id.removeprefix('cs_test_')}"
            return dict(session)

    def verify(self, vs_id: str, document: dict) -> dict:
        with self.lock:
            session = self.verifications[vs_id]
            session["status"] = "verified"
            session["_report"] = {
                "id": f"vr_test_{next(_ids)}",
                "object": "identity.verification_report",
                "document": {"status": "verified", **document},
            }
            return {k: v for k, v in session.items() if not k.startswith("_")}


def _missing(what: str) -> tuple[int, dict]:
    return 404, {"error": {"type": "invalid_request_error", "message": f"No such object: '{what}'"}}


def event(kind: str, obj: dict, *, event_id: str | None = None, created: int | None = None) -> dict:
    return {
        "id": event_id or f"evt_test_{next(_ids)}",
        "object": "event",
        "type": kind,
        "created": created or int(time.time()),
        "livemode": False,
        "api_version": "2026-01-01",
        "data": {"object": obj},
    }


def signed(payload: dict | str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, str]:
    """The body and the Stripe-Signature header Stripe would send, signed with the library's own helper."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body.encode(), header


def charge(intent: str, *, amount: int, refunded: int = 0, charge_id: str | None = None) -> dict:
    return {
        "id": charge_id or f"ch_test_{intent}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "refunded": refunded == amount,
        "payment_intent": intent,
        "receipt_url": f"https://pay.stripe.test/receipts/{intent}",
        "currency": "usd",
    }


def dispute(intent: str, *, amount: int, status: str, dispute_id: str | None = None) -> dict:
    return {
        "id": dispute_id or f"dp_test_{intent}",
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_test_{intent}",
        "payment_intent": intent,
        "status": status,
        "currency": "usd",
    }
