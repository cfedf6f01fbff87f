"""Buying credit: Checkout, the webhook that credits, and everything Stripe sends twice, late, out of order or at
once. Events are built here and signed with the stripe library's own helper; Checkout is the local Stripe."""

import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.billing import services
from apps.billing.models import CreditPackage, Purchase, PurchaseStatus, StripeEvent
from apps.core.amounts import CREDIT
from apps.core.errors import ValidationFailed
from apps.core.models import Event
from apps.ledger.errors import AccountInDebt
from apps.ledger.models import Account, AccountKind, Transfer
from apps.ledger.selectors import owed_by, wallet_balance
from apps.ledger.services import wallet_fund_agent, wallet_withdraw_agent
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from apps.realtime.models import Notification
from tests import factories
from tests.billing.fake_stripe import charge, dispute, event, signed
from tests.support import race, signed_in

WEBHOOK = "/billing/stripe/webhook"
STARTER = 500 * CREDIT  # the first package of the defaults: 500 credits for $5.00


@pytest.fixture
def package(db):
    """The first of the default packages (migration 0002; made again where a transactional test flushed it)."""
    return CreditPackage.objects.get_or_create(name="Starter", defaults={"credits": STARTER, "price": 500})[0]


def checkout(client: Client, package: CreditPackage, key: str = "buy-1"):
    return client.post(
        "/api/v1/billing/checkout",
        {"package": package.pk},
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )


def bought(fake_stripe, user, package, key: str = "buy-1") -> Purchase:
    """A purchase whose Checkout Session exists (the person is on Stripe's page)."""
    response = checkout(signed_in(user), package, key)
    assert response.status_code == 201, response.content
    return Purchase.objects.get(pk=response.json()["purchase"]["id"])


def deliver(client: Client, payload: dict, **kwargs):
    body, header = signed(payload, **kwargs)
    return client.post(WEBHOOK, body, content_type="application/json", headers={"Stripe-Signature": header})


def completed(fake_stripe, purchase: Purchase, **kwargs) -> dict:
    return event("checkout.session.completed", fake_stripe.pay(purchase.stripe_session_id, **kwargs))


def credits_transfers(purchase: Purchase) -> int:
    return Transfer.objects.filter(idempotency_key=f"purchase:{purchase.pk}:credit").count()


# --- Checkout --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_checkout_creates_one_session_per_key_and_credits_nothing_yet(fake_stripe, owner, package):
    client = signed_in(owner)
    first = checkout(client, package)
    again = checkout(client, package)

    assert first.status_code == 201 and again.status_code == 201
    body = first.json()
    assert again.json() == body
    purchase = Purchase.objects.get()
    assert body["checkout_url"] == f"https://checkout.stripe.test/pay/{purchase.stripe_session_id}"
    assert body["purchase"]["status"] == "open" and body["purchase"]["credits"] == STARTER
    assert len(fake_stripe.sessions) == 1
    _, path, params = next(r for r in fake_stripe.requests if r[0] == "POST")
    assert path == "/v1/checkout/sessions"
    assert params["line_items"][0]["price_data"] == {
        "currency": "usd",
        "unit_amount": "500",
        "product_data": {"name": "500 Credence credits"},
    }
    assert params["metadata"] == {"purchase": str(purchase.pk), "user": str(owner.pk)}
    assert params["payment_intent_data"] == {"metadata": {"purchase": str(purchase.pk)}}
    assert params["success_url"].endswith("/billing/return?session_id={CHECKOUT_SESSION_ID}")
    assert f"credence-checkout-{purchase.pk}" in fake_stripe.replies  # Stripe's own idempotency key
    assert wallet_balance(owner.human_identity) == factories.GRANT
    assert credits_transfers(purchase) == 0


@pytest.mark.django_db
def test_same_key_for_another_package_is_a_conflict(fake_stripe, owner, package):
    checkout(signed_in(owner), package)
    other = CreditPackage.objects.get(name="Regular")
    response = checkout(signed_in(owner), other)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert Purchase.objects.count() == 1


@pytest.mark.django_db
def test_stripe_down_charges_nothing_and_a_retry_creates_the_session(fake_stripe, owner, package):
    fake_stripe.fail_next = 3  # the client retries twice, then gives up
    response = checkout(signed_in(owner), package)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"
    assert Purchase.objects.get().status == PurchaseStatus.CREATED
    retry = checkout(signed_in(owner), package)
    assert retry.status_code == 201
    assert Purchase.objects.get().status == PurchaseStatus.OPEN and len(fake_stripe.sessions) == 1


@pytest.mark.django_db
def test_without_stripe_buying_is_refused_and_the_page_says_so(settings, owner, package):
    settings.STRIPE_SECRET_KEY = ""
    response = checkout(signed_in(owner), package)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "billing_not_configured"
    page = signed_in(owner).get("/billing/")
    assert page.status_code == 200
    assert "Buying credit is not configured on this server" in page.content.decode()
    assert Purchase.objects.count() == 0
    # and the webhook answers that it is not configured, changing nothing
    assert Client().post(WEBHOOK, b"{}", content_type="application/json").status_code == 503


@pytest.mark.django_db
def test_a_new_account_is_held_to_its_daily_limit_before_a_session_is_created(fake_stripe, settings, owner, package):
    settings.CREDENCE_BILLING_NEW_ACCOUNT_DAILY_LIMIT = 1_000  # $10: two starters
    assert checkout(signed_in(owner), package, "a").status_code == 201
    assert checkout(signed_in(owner), package, "b").status_code == 201
    refused = checkout(signed_in(owner), package, "c")
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "spending_limit_reached",
        "message": "A new account may buy only so much credit a day: try a smaller package, or tomorrow.",
        "detail": {"limit": 1000, "spent_today": 1000, "price": 500, "currency": "usd"},
    }
    assert Purchase.objects.count() == 2 and len(fake_stripe.sessions) == 2
    page = signed_in(owner).get("/billing/").content.decode()
    assert "A new account may buy up to $10.00 a day; $0.00 left today." in page


@pytest.mark.django_db
def test_an_older_account_has_no_daily_limit(fake_stripe, settings, owner, package):
    settings.CREDENCE_BILLING_NEW_ACCOUNT_DAILY_LIMIT = 500
    owner.date_joined = owner.date_joined.replace(year=owner.date_joined.year - 1)
    owner.save(update_fields=["date_joined"])
    for key in "abc":
        assert checkout(signed_in(owner), package, key).status_code == 201


# --- The webhook ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_completion_credits_once_and_a_duplicate_changes_nothing(fake_stripe, stripe_client, owner, package):
    purchase = bought(fake_stripe, owner, package)
    paid = completed(fake_stripe, purchase)

    first = deliver(stripe_client, paid)
    second = deliver(stripe_client, paid)

    assert first.status_code == 200 and second.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.CREDITED
    assert purchase.payment_intent_id == f"pi_test_{purchase.stripe_session_id.removeprefix('cs_test_')}"
    assert credits_transfers(purchase) == 1
    assert wallet_balance(owner.human_identity) == factories.GRANT + STARTER
    stored = StripeEvent.objects.get()
    assert stored.pk == paid["id"] and stored.processed_at is not None and stored.attempts == 1
    assert stored.outcome == f"purchase #{purchase.pk}: credited"
    assert Notification.objects.get(user=owner).text == "500 credits arrived in your wallet."
    assert Event.objects.filter(kind="purchase.changed", subject=f"user:{owner.pk}").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("why", "sign"),
    [
        ("forged", {"secret": "whsec_someone_else"}),
        ("stale", {"timestamp": -301}),  # seconds from now, when the test runs
        ("future", {"timestamp": 310}),
    ],
)
def test_a_forged_stale_or_future_event_is_refused_and_changes_nothing(
    fake_stripe, stripe_client, owner, package, why, sign
):
    purchase = bought(fake_stripe, owner, package)
    if "timestamp" in sign:
        sign = {"timestamp": int(time.time()) + sign["timestamp"]}
    response = deliver(stripe_client, completed(fake_stripe, purchase), **sign)
    assert response.status_code == 400, why
    assert StripeEvent.objects.count() == 0
    assert credits_transfers(purchase) == 0
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.OPEN


@pytest.mark.django_db
def test_a_missing_signature_a_malformed_body_and_an_unknown_type(fake_stripe, stripe_client, owner, package):
    purchase = bought(fake_stripe, owner, package)
    paid = completed(fake_stripe, purchase)
    unsigned = stripe_client.post(WEBHOOK, paid, content_type="application/json")
    assert unsigned.status_code == 400
    body, header = signed("{not json")
    malformed = stripe_client.post(WEBHOOK, body, content_type="application/json", headers={"Stripe-Signature": header})
    assert malformed.status_code == 400
    assert malformed.json() == {"received": False, "message": "The body is not JSON"}
    not_an_event = deliver(stripe_client, {"id": "evt_1", "object": "charge"})
    assert not_an_event.status_code == 400
    unknown = deliver(stripe_client, event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert unknown.status_code == 200
    assert unknown.json()["message"] == "ignored: customer.created is not handled"
    assert StripeEvent.objects.count() == 0 and credits_transfers(purchase) == 0


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_deliveries_of_one_event_credit_once(fake_stripe, owner, package):
    purchase = bought(fake_stripe, owner, package)
    body, header = signed(completed(fake_stripe, purchase))

    results = race(
        16,
        lambda i: (
            Client()
            .post(WEBHOOK, body, content_type="application/json", headers={"Stripe-Signature": header})
            .status_code
        ),
    )

    assert results == [200] * 16
    assert credits_transfers(purchase) == 1
    assert StripeEvent.objects.count() == 1
    assert wallet_balance(owner.human_identity) == factories.GRANT + STARTER


@pytest.mark.django_db(transaction=True)
def test_the_success_redirect_racing_the_webhook_credits_once(fake_stripe, owner, package):
    purchase = bought(fake_stripe, owner, package)
    body, header = signed(completed(fake_stripe, purchase))
    back = f"/billing/return?session_id={purchase.stripe_session_id}"

    def work(i: int) -> int:
        if i % 2:
            return signed_in(owner).get(back).status_code
        return (
            Client()
            .post(WEBHOOK, body, content_type="application/json", headers={"Stripe-Signature": header})
            .status_code
        )

    assert sorted(race(8, work)) == [200] * 4 + [302] * 4
    assert credits_transfers(purchase) == 1
    assert wallet_balance(owner.human_identity) == factories.GRANT + STARTER


@pytest.mark.django_db
def test_the_success_redirect_alone_credits_a_paid_session_and_shows_it(fake_stripe, owner, package):
    purchase = bought(fake_stripe, owner, package)
    fake_stripe.pay(purchase.stripe_session_id)
    response = signed_in(owner).get(f"/billing/return?session_id={purchase.stripe_session_id}")
    assert response.status_code == 302 and response["Location"] == f"/billing/purchases/{purchase.pk}/"
    page = signed_in(owner).get(response["Location"]).content.decode()
    assert 'data-status="credited"' in page
    assert credits_transfers(purchase) == 1


@pytest.mark.django_db
def test_back_from_checkout_before_paying_shows_pending(fake_stripe, owner, package):
    purchase = bought(fake_stripe, owner, package)
    response = signed_in(owner).get(f"/billing/return?session_id={purchase.stripe_session_id}", follow=True)
    html = response.content.decode()
    assert 'data-status="pending"' in html and 'hx-trigger="credence:notifications from:body, every 5s"' in html
    assert credits_transfers(purchase) == 0


@pytest.mark.django_db
def test_someone_elses_session_and_purchase_are_not_found(fake_stripe, owner, package):
    purchase = bought(fake_stripe, owner, package)
    other = signed_in(factories.verified_user())
    assert other.get(f"/billing/purchases/{purchase.pk}/").status_code == 404
    assert other.get(f"/api/v1/billing/purchases/{purchase.pk}").status_code == 404
    response = other.get(f"/billing/return?session_id={purchase.stripe_session_id}")
    assert response.status_code == 302 and response["Location"] == "/billing/"
    assert other.get("/api/v1/billing/purchases").json() == []


@pytest.mark.django_db
def test_the_purchase_list_is_one_query_however_many(fake_stripe, owner, package):
    for key in ("a", "b", "c"):
        bought(fake_stripe, owner, package, key)
    client = signed_in(owner)
    client.get("/api/v1/billing/purchases")  # the session's own reads, once
    with CaptureQueriesContext(connection) as few:
        assert len(client.get("/api/v1/billing/purchases").json()) == 3
    for key in ("d", "e", "f", "g"):
        bought(fake_stripe, owner, package, key)
    with CaptureQueriesContext(connection) as more:
        assert len(client.get("/api/v1/billing/purchases").json()) == 7
    assert len(more.captured_queries) == len(few.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_a_payment_that_completes_later_is_pending_then_credited(fake_stripe, stripe_client, owner, package):
    purchase = bought(fake_stripe, owner, package)
    assert deliver(stripe_client, completed(fake_stripe, purchase, paid=False)).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.PENDING and credits_transfers(purchase) == 0
    later = event("checkout.session.async_payment_succeeded", fake_stripe.pay(purchase.stripe_session_id))
    assert deliver(stripe_client, later).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.CREDITED and credits_transfers(purchase) == 1


@pytest.mark.django_db
def test_a_session_that_paid_another_amount_is_not_credited(fake_stripe, stripe_client, owner, package):
    purchase = bought(fake_stripe, owner, package)
    session = fake_stripe.pay(purchase.stripe_session_id)
    session["amount_total"] = 1
    assert deliver(stripe_client, event("checkout.session.completed", session)).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.FAILED
    assert purchase.failure.startswith("Stripe reports 1 usd, not 500 usd")
    assert credits_transfers(purchase) == 0


# --- Refunds, disputes, debts -------------------------------------------------------------------------------


def credited(fake_stripe, client, owner, package) -> Purchase:
    purchase = bought(fake_stripe, owner, package)
    assert deliver(client, completed(fake_stripe, purchase)).status_code == 200
    purchase.refresh_from_db()
    return purchase


@pytest.mark.django_db(transaction=True)
def test_a_refund_before_its_completion_waits_then_nets_out(fake_stripe, stripe_client, owner, package):
    purchase = bought(fake_stripe, owner, package)
    session = fake_stripe.pay(purchase.stripe_session_id)
    refund = event("charge.refunded", charge(session["payment_intent"], amount=500, refunded=500))

    early = deliver(stripe_client, refund)
    assert early.status_code == 200
    waiting = StripeEvent.objects.get(pk=refund["id"])
    assert waiting.processed_at is None and waiting.outcome.startswith("waiting:")

    assert deliver(stripe_client, event("checkout.session.completed", session)).status_code == 200

    purchase.refresh_from_db()
    waiting.refresh_from_db()
    assert waiting.processed_at is not None
    assert purchase.status == PurchaseStatus.REVERSED and purchase.reversed_credits == STARTER
    assert credits_transfers(purchase) == 1
    assert wallet_balance(owner.human_identity) == factories.GRANT
    assert owed_by(owner.human_identity) == 0


@pytest.mark.django_db(transaction=True)
def test_a_partial_refund_takes_back_its_share(fake_stripe, stripe_client, owner, package):
    purchase = credited(fake_stripe, stripe_client, owner, package)
    intent = purchase.payment_intent_id
    assert deliver(stripe_client, event("charge.refunded", charge(intent, amount=500, refunded=150))).status_code == 200
    # an older copy of the charge (fewer refunds) arriving late changes nothing
    assert deliver(stripe_client, event("charge.refunded", charge(intent, amount=500, refunded=100))).status_code == 200
    purchase.refresh_from_db()
    assert purchase.refunded_amount == 150 and purchase.reversed_credits == 150 * CREDIT
    assert purchase.receipt_url == f"https://pay.stripe.test/receipts/{intent}"
    assert wallet_balance(owner.human_identity) == factories.GRANT + STARTER - 150 * CREDIT


@pytest.mark.django_db(transaction=True)
def test_a_refund_after_the_credit_was_spent_is_a_debt_that_blocks_spending_until_settled(
    fake_stripe, stripe_client, owner, package
):
    purchase = credited(fake_stripe, stripe_client, owner, package)
    person = owner.human_identity
    bot = factories.agent(owner)
    wallet_fund_agent(owner=owner, agent=bot, amount=1_400 * CREDIT, idempotency_key="spend")  # 100 left
    claim = factories.new_claim(factories.human())

    refund = event("charge.refunded", charge(purchase.payment_intent_id, amount=500, refunded=500))
    assert deliver(stripe_client, refund).status_code == 200

    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.REVERSED
    assert wallet_balance(person) == 0  # what it held was taken; never below zero
    assert owed_by(person) == owed_by(bot) == 400 * CREDIT
    reversal = Transfer.objects.get(kind="purchase_reversal")
    assert reversal.metadata == {"purchase": purchase.pk, "from_wallet": 100 * CREDIT, "as_debt": 400 * CREDIT}
    assert Account.objects.get(kind=AccountKind.DEBT, identity=person).balance == -400 * CREDIT

    for trader in (person, bot):  # the person and their agents are one party
        with pytest.raises(AccountInDebt):
            trade_place(
                identity=trader, claim=claim, order=Order(kind="buy", side="yes", amount=CREDIT), idempotency_key="x"
            )
    with pytest.raises(AccountInDebt):
        wallet_fund_agent(owner=owner, agent=bot, amount=CREDIT, idempotency_key="more")
    refused = signed_in(owner).post(
        f"/api/v1/claims/{claim.pk}/trades",
        {"kind": "buy", "side": "yes", "amount": CREDIT},
        content_type="application/json",
        headers={"Idempotency-Key": "api-1"},
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "account_in_debt"
    wallet = signed_in(owner).get("/wallet/").content.decode()
    assert "You owe 400 credits" in wallet

    wallet_withdraw_agent(owner=owner, agent=bot, amount=1_000 * CREDIT, idempotency_key="back")
    settled = signed_in(owner).post("/api/v1/billing/debt/settle", headers={"Idempotency-Key": "s1"})
    assert settled.json() == {"paid": 400 * CREDIT, "owed": 0}
    assert wallet_balance(person) == 600 * CREDIT
    trade_place(identity=person, claim=claim, order=Order(kind="buy", side="yes", amount=CREDIT), idempotency_key="y")


@pytest.mark.django_db(transaction=True)
def test_buying_again_repays_a_debt_first(fake_stripe, stripe_client, owner, package):
    purchase = credited(fake_stripe, stripe_client, owner, package)
    bot = factories.agent(owner)
    wallet_fund_agent(owner=owner, agent=bot, amount=1_500 * CREDIT, idempotency_key="all")
    deliver(stripe_client, event("charge.refunded", charge(purchase.payment_intent_id, amount=500, refunded=500)))
    assert owed_by(owner.human_identity) == STARTER

    second = bought(fake_stripe, owner, package, key="again")
    assert deliver(stripe_client, completed(fake_stripe, second)).status_code == 200
    assert owed_by(owner.human_identity) == 0
    assert wallet_balance(owner.human_identity) == 0
    assert Transfer.objects.filter(kind="debt_repayment").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_dispute_holds_the_credit_back_and_a_won_dispute_gives_it_back_debt_first(
    fake_stripe, stripe_client, owner, package
):
    purchase = credited(fake_stripe, stripe_client, owner, package)
    bot = factories.agent(owner)
    wallet_fund_agent(owner=owner, agent=bot, amount=1_300 * CREDIT, idempotency_key="most")  # 200 left
    intent = purchase.payment_intent_id

    assert (
        deliver(
            stripe_client, event("charge.dispute.created", dispute(intent, amount=500, status="needs_response"))
        ).status_code
        == 200
    )
    assert wallet_balance(owner.human_identity) == 0 and owed_by(owner.human_identity) == 300 * CREDIT

    assert (
        deliver(stripe_client, event("charge.dispute.closed", dispute(intent, amount=500, status="won"))).status_code
        == 200
    )
    purchase.refresh_from_db()
    assert purchase.dispute_status == "won" and purchase.reversed_credits == 0
    assert owed_by(owner.human_identity) == 0 and wallet_balance(owner.human_identity) == 200 * CREDIT
    # a late 'created' does not reopen a closed dispute
    deliver(stripe_client, event("charge.dispute.created", dispute(intent, amount=500, status="needs_response")))
    purchase.refresh_from_db()
    assert purchase.dispute_status == "won" and purchase.reversed_credits == 0


@pytest.mark.django_db(transaction=True)
def test_a_lost_dispute_arriving_before_its_opening_keeps_the_credit_taken(fake_stripe, stripe_client, owner, package):
    purchase = credited(fake_stripe, stripe_client, owner, package)
    intent = purchase.payment_intent_id
    deliver(stripe_client, event("charge.dispute.closed", dispute(intent, amount=500, status="lost")))
    deliver(stripe_client, event("charge.dispute.created", dispute(intent, amount=500, status="needs_response")))
    purchase.refresh_from_db()
    assert purchase.dispute_status == "lost" and purchase.status == PurchaseStatus.REVERSED
    assert wallet_balance(owner.human_identity) == factories.GRANT
    assert Transfer.objects.filter(kind="purchase_reversal").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_processing_answers_500_and_the_replay_command_finishes_it(
    fake_stripe, stripe_client, owner, package, monkeypatch
):
    from apps.billing import services

    purchase = bought(fake_stripe, owner, package)
    paid = completed(fake_stripe, purchase)
    real = services.HANDLERS["checkout.session.completed"]

    def broken(obj, event):
        raise RuntimeError("the database went away")

    monkeypatch.setitem(services.HANDLERS, "checkout.session.completed", broken)
    response = deliver(stripe_client, paid)
    assert response.status_code == 500
    stored = StripeEvent.objects.get()
    assert stored.processed_at is None and stored.outcome == "failed: RuntimeError: the database went away"
    assert credits_transfers(purchase) == 0

    monkeypatch.setitem(services.HANDLERS, "checkout.session.completed", real)
    call_command("stripe_events_replay")
    stored.refresh_from_db()
    assert stored.processed_at is not None and stored.attempts == 2
    assert credits_transfers(purchase) == 1


@pytest.mark.django_db(transaction=True)
def test_reconcile_agrees_with_stripe_and_finds_a_difference(fake_stripe, stripe_client, owner, package):
    from django.utils import timezone

    from apps.billing.reconcile import reconcile

    purchase = credited(fake_stripe, stripe_client, owner, package)
    intent = purchase.payment_intent_id
    fake_stripe.balance_transactions.append(
        {
            "id": "txn_1",
            "object": "balance_transaction",
            "type": "charge",
            "amount": 500,
            "source": charge(intent, amount=500),
        }
    )
    since = timezone.now().replace(year=timezone.now().year - 1)
    assert reconcile(since=since).problems == []
    fake_stripe.balance_transactions.append(
        {
            "id": "txn_2",
            "object": "balance_transaction",
            "type": "refund",
            "amount": -500,
            "source": {"id": "re_1", "payment_intent": intent},
        }
    )
    report = reconcile(since=since)
    assert report.transactions == 2 and report.purchases == 1
    assert report.problems == [
        f"purchase #{purchase.pk} ({intent}): Stripe kept 0 of 500 usd, implying 0 micro-credits; "
        f"the ledger holds {STARTER}"
    ]


@pytest.mark.django_db
def test_a_nul_anywhere_is_refused_and_writes_nothing(fake_stripe, owner, package):
    # the site refuses a NUL in any form (400) before a view runs; the services refuse it too, for other callers
    assert signed_in(owner).post("/billing/buy", {"package": package.pk, "idempotency_key": "k\x00"}).status_code == 400
    assert signed_in(owner).post("/wallet/debt/settle", {"idempotency_key": "\x00"}).status_code == 400
    with pytest.raises(ValidationFailed, match="no NUL"):
        services.checkout_create(
            user=owner, package_id=package.pk, idempotency_key="k\x00", success_url="https://x", cancel_url="https://x"
        )
    with pytest.raises(ValidationFailed, match="no NUL"):
        services.debt_settle(user=owner, idempotency_key="\x00")
    assert Purchase.objects.count() == 0 and len(fake_stripe.sessions) == 0
    assert not Transfer.objects.filter(kind="debt_repayment").exists()
