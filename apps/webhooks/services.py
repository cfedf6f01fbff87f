"""Every write of the webhooks app: subscriptions and their secrets, the fan-out from the outbox, sending
and the record of each attempt, redelivery and test pings.

The flow. The fan-out (`webhooks_fanout`, a beat task every CREDENCE_WEBHOOK_FANOUT_SECONDS) reads the
outbox after commit with its own durable cursor (apps/core/outbox.py: nothing from a rolled-back
transaction, nothing lost on restart, racing workers take turns), and writes one delivery row per
(subscription, event) the subscription may see, in one INSERT ... ON CONFLICT DO NOTHING per batch, in
the transaction that moves the cursor. The sender (`deliveries_send_due`) takes due deliveries with
SELECT ... FOR NO KEY UPDATE SKIP LOCKED and leases them (pushes their next attempt past the time one
attempt can take) in a short transaction, POSTs them outside any transaction, several at once, and
records each answer as it comes. Several senders never take one delivery twice; a sender that dies
mid-way leaves its deliveries to come back when the lease ends. Nothing here runs inside a money
transaction: the fan-out reads only what has committed.
"""

import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.core import events, metrics
from apps.core import http as transport
from apps.core.errors import ValidationFailed
from apps.core.models import Event
from apps.core.outbox import outbox_batch
from apps.identities.models import Identity, IdentityKind
from apps.realtime.models import NotificationKind
from apps.realtime.services import notification_send
from apps.reviews.models import ReviewRequest
from apps.webhooks import signing
from apps.webhooks.errors import TooManyWebhooks, WebhookDisabled, WebhookUrlRefused
from apps.webhooks.models import (
    DeliveryState,
    SubscriptionState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSecret,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

CONSUMER = "webhooks"  # the fan-out's outbox cursor
URL_MAX = 2000
DESCRIPTION_MAX = 200
# Kinds a subscription may choose: the catalogue less the private ones (`user:<id>` subjects are a
# person's own notifications, never sent out).
OFFERED_KINDS = tuple(sorted(name for name, kind in events.CATALOGUE.items() if not kind.subject.startswith("user:")))
# Seconds to wait after the n-th failed attempt (the last repeats), each spread by +-10% (retry_delay),
# until CREDENCE_WEBHOOK_RETRY_HOURS after the first attempt; then the delivery has failed.
RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
# How long an answer may wait to be recorded with the next ones (the sender records in groups).
RECORD_EVERY = 0.05
# What an attempt led to, as /metrics counts it: a delivery still pending after an attempt will be retried.
ATTEMPT_OUTCOMES = {
    DeliveryState.DELIVERED: "delivered",
    DeliveryState.PENDING: "retrying",
    DeliveryState.FAILED: "failed",
}


# --- Settings read when used (tests override them) -----------------------------------------------------


def _resolver() -> transport.Resolver:
    return import_string(settings.CREDENCE_HTTP_RESOLVER)


def _allow_loopback() -> bool:
    return settings.CREDENCE_HTTP_ALLOW_LOOPBACK


def _timeout() -> float:
    return float(settings.CREDENCE_WEBHOOK_TIMEOUT_SECONDS)


# --- Subscriptions -------------------------------------------------------------------------------------


def url_check(url: str, *, resolver: transport.Resolver | None = None) -> transport.Target:
    """The URL's target, or WebhookUrlRefused saying why (on the `url` field). Resolves the host; sends nothing."""
    if len(url) > URL_MAX:
        raise WebhookUrlRefused(f"A webhook URL has at most {URL_MAX} characters.", detail={"field": "url"})
    try:
        return transport.target_for(url, resolver=resolver or _resolver(), allow_loopback=_allow_loopback())
    except transport.UrlRefused as refused:
        raise WebhookUrlRefused(refused.reason, detail={"field": "url"}) from None


def _kinds(kinds: Collection[str]) -> list[str]:
    chosen = sorted(set(kinds))
    unknown = [kind for kind in chosen if kind not in OFFERED_KINDS]
    if unknown:
        raise ValidationFailed(
            f"Unknown or private event kinds: {', '.join(unknown)}.", detail={"field": "kinds", "unknown": unknown}
        )
    if not chosen:
        raise ValidationFailed("Choose at least one event kind.", detail={"field": "kinds"})
    return chosen


def _description(description: str) -> str:
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed(
            f"A description has at most {DESCRIPTION_MAX} characters.", detail={"field": "description"}
        )
    return description


def _agent_locked(agent: Identity) -> Identity:
    if agent.kind != IdentityKind.AGENT:
        raise ValidationFailed("Only agents have webhooks.")
    return Identity.objects.select_for_update(no_key=True).get(pk=agent.pk)


@transaction.atomic
def subscription_create(
    *,
    agent: Identity,
    url: str,
    kinds: Collection[str],
    description: str = "",
    own_trades_only: bool = False,
    resolver: transport.Resolver | None = None,
    now: datetime | None = None,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret (returned once: shown to the caller, never again)."""
    now = now or timezone.now()
    url = url.strip()
    chosen, description = _kinds(kinds), _description(description)
    url_check(url, resolver=resolver)
    _agent_locked(agent)  # one agent's creations queue here, so the limit holds under races
    if WebhookSubscription.objects.filter(agent=agent).count() >= settings.CREDENCE_WEBHOOK_MAX_PER_AGENT:
        raise TooManyWebhooks(
            f"An agent may have {settings.CREDENCE_WEBHOOK_MAX_PER_AGENT} webhook subscriptions; delete one first."
        )
    subscription = WebhookSubscription.objects.create(
        agent=agent,
        url=url,
        kinds=chosen,
        description=description,
        own_trades_only=own_trades_only,
        created_at=now,
        updated_at=now,
    )
    secret = signing.secret_new()
    WebhookSecret.objects.create(subscription=subscription, secret=secret, created_at=now)
    logger.info("webhook %s created for agent %s", subscription.pk, agent.pk)
    return subscription, secret


def _locked(subscription: WebhookSubscription) -> WebhookSubscription:
    return WebhookSubscription.objects.select_for_update(no_key=True).get(pk=subscription.pk)


@transaction.atomic
def subscription_update(
    *,
    subscription: WebhookSubscription,
    url: str | None = None,
    kinds: Collection[str] | None = None,
    description: str | None = None,
    own_trades_only: bool | None = None,
    enabled: bool | None = None,
    resolver: transport.Resolver | None = None,
    now: datetime | None = None,
) -> WebhookSubscription:
    """Change what is given (None keeps it). Enabling a disabled or failing subscription makes it active;
    disabling it stops everything: no delivery is created for it, and none of its pending ones is sent."""
    now = now or timezone.now()
    changes: dict = {}
    if kinds is not None:
        changes["kinds"] = _kinds(kinds)
    if description is not None:
        changes["description"] = _description(description)
    if url is not None:
        url = url.strip()
        url_check(url, resolver=resolver)
        changes["url"] = url
    if own_trades_only is not None:
        changes["own_trades_only"] = own_trades_only
    subscription = _locked(subscription)
    if enabled is False:
        changes.update(state=SubscriptionState.DISABLED, failing_since=None)
    elif enabled is True and subscription.state != SubscriptionState.ACTIVE:
        changes.update(state=SubscriptionState.ACTIVE, failing_since=None, consecutive_failures=0)
    for name, value in changes.items():
        setattr(subscription, name, value)
    subscription.updated_at = now
    subscription.save()
    return subscription


@transaction.atomic
def subscription_delete(*, subscription: WebhookSubscription) -> None:
    """Deletes it with its secrets and its delivery log."""
    _locked(subscription).delete()


@transaction.atomic
def subscription_rotate_secret(
    *, subscription: WebhookSubscription, now: datetime | None = None
) -> tuple[str, datetime]:
    """A new secret (returned once). The current one keeps signing, beside it, until the overlap ends
    (returned); older ones stop now and are deleted."""
    now = now or timezone.now()
    subscription = _locked(subscription)
    overlap_ends = now + timedelta(hours=settings.CREDENCE_WEBHOOK_SECRET_OVERLAP_HOURS)
    current = _signing_secrets([subscription.pk], now).get(subscription.pk, [])
    WebhookSecret.objects.filter(subscription=subscription).exclude(pk__in=[s.pk for s in current[:1]]).delete()
    WebhookSecret.objects.filter(pk__in=[s.pk for s in current[:1]]).update(expires_at=overlap_ends)
    secret = signing.secret_new()
    WebhookSecret.objects.create(subscription=subscription, secret=secret, created_at=now)
    subscription.updated_at = now
    subscription.save(update_fields=["updated_at"])
    logger.info("webhook %s: secret rotated", subscription.pk)
    return secret, overlap_ends


def _signing_secrets(subscription_ids: Collection[int], now: datetime) -> dict[int, list[WebhookSecret]]:
    """Each subscription's secrets that sign now, newest first (one query)."""
    found: dict[int, list[WebhookSecret]] = defaultdict(list)
    rows = WebhookSecret.objects.filter(subscription_id__in=list(subscription_ids)).order_by("-id")
    for secret in rows:
        if secret.expires_at is None or secret.expires_at > now:
            found[secret.subscription_id].append(secret)
    return found


# --- Redelivery and pings ------------------------------------------------------------------------------


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery, now: datetime | None = None) -> WebhookDelivery:
    """Send this delivery again, now, with the same webhook-id, and retry it for another day if it fails."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_for_update(no_key=True).select_related("subscription").get(pk=delivery.pk)
    if delivery.subscription.state == SubscriptionState.DISABLED:
        raise WebhookDisabled()
    delivery.state = DeliveryState.PENDING
    delivery.next_attempt_at = now
    delivery.first_attempt_at = None
    delivery.save(update_fields=["state", "next_attempt_at", "first_attempt_at"])
    transaction.on_commit(send_soon)
    return delivery


@transaction.atomic
def ping_send(*, subscription: WebhookSubscription, now: datetime | None = None) -> WebhookDelivery:
    """A test delivery (`webhook.ping`), signed like any other, queued now."""
    now = now or timezone.now()
    subscription = _locked(subscription)
    if subscription.state == SubscriptionState.DISABLED:
        raise WebhookDisabled()
    payload = {"subscription": subscription.pk, "agent": subscription.agent_id, "message": "A test delivery."}
    delivery = WebhookDelivery.objects.create(
        subscription=subscription, kind=signing.PING, payload=payload, created_at=now, next_attempt_at=now
    )
    transaction.on_commit(send_soon)
    return delivery


def send_soon() -> None:
    """Queue the sender (after commit). If the broker is down, the beat's next send tick finds the rows."""
    from apps.webhooks import tasks  # the task module imports this one

    try:
        tasks.send.delay()
    except Exception:
        logger.exception("could not queue webhooks.send; the beat will run it")


# --- The fan-out ---------------------------------------------------------------------------------------


def kinds_wanted() -> set[str]:
    """Every kind some subscription that is not disabled wants (one query)."""
    wanted: set[str] = set()
    for kinds in WebhookSubscription.objects.exclude(state=SubscriptionState.DISABLED).values_list("kinds", flat=True):
        wanted.update(kinds)
    return wanted


class _KindsWantedNow(Collection):
    """The kinds wanted, read when outbox_batch reads them: after it has locked the cursor, in its
    transaction, so a subscription saved while another worker held the cursor is already counted."""

    def _kinds(self) -> set[str]:
        return kinds_wanted()

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds())

    def __len__(self) -> int:
        return len(self._kinds())

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds()


def _subject_id(subject: str, prefix: str) -> int | None:
    head, _, rest = subject.partition(":")
    if head != prefix or not rest.isdigit():
        return None
    return int(rest)


def _requesters(batch: list[Event]) -> dict[int, int]:
    """The requester of each review a batch's events are about (one query)."""
    ids = {review for event in batch if (review := _subject_id(event.subject, "review")) is not None}
    if not ids:
        return {}
    return dict(ReviewRequest.objects.filter(pk__in=ids).values_list("pk", "requester_id"))


def may_see(event: Event, agent_id: int, requesters: dict[int, int]) -> bool:
    """Whether agent `agent_id` may receive `event`: claims' events are public; an identity's only to
    itself; a review's only to the identity that asked for it; anything else (a person's private
    `user:` stream, a subject we do not know) to nobody."""
    head = event.subject.partition(":")[0]
    if head == "claim":
        return True
    if head == "identity":
        return _subject_id(event.subject, "identity") == agent_id
    if head == "review":
        review = _subject_id(event.subject, "review")
        return review is not None and requesters.get(review) == agent_id
    return False


def webhooks_fanout(*, now: datetime | None = None, limit: int = 500) -> int | None:
    """One batch of the outbox to delivery rows; how many were written (None: another worker holds the
    cursor). Queues the sender after commit when there are new deliveries."""
    now = now or timezone.now()
    with outbox_batch(CONSUMER, kinds=_KindsWantedNow(), limit=limit) as batch:
        if not batch:
            return None if batch is None else 0
        subscriptions: dict[str, list[WebhookSubscription]] = defaultdict(list)
        rows = WebhookSubscription.objects.exclude(state=SubscriptionState.DISABLED).only(
            "pk", "agent_id", "kinds", "own_trades_only", "created_at"
        )
        for subscription in rows:
            for kind in subscription.kinds:
                subscriptions[kind].append(subscription)
        requesters = _requesters(batch)
        deliveries = [
            WebhookDelivery(
                subscription_id=subscription.pk, event_id=event.pk, kind=event.kind, created_at=now, next_attempt_at=now
            )
            for event in batch
            for subscription in subscriptions.get(event.kind, ())
            if event.created_at >= subscription.created_at
            and may_see(event, subscription.agent_id, requesters)
            and not (
                subscription.own_trades_only
                and event.kind == events.TRADE_PLACED.name
                and event.actor_identity_id != subscription.agent_id
            )
        ]
        # One INSERT ... ON CONFLICT DO NOTHING: a batch read twice (a retried task) writes nothing twice.
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=1000)
        if deliveries:
            transaction.on_commit(send_soon)
        return len(deliveries)


# --- Sending -------------------------------------------------------------------------------------------


def retry_delay(attempt: int, delivery_id: int) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1-based): RETRY_DELAYS, spread by +-10% so
    the deliveries of one outage do not all come back in the same second. The spread is derived from the
    delivery and the attempt, so it is the same on every run (and in tests)."""
    base = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
    digest = hashlib.sha256(f"{delivery_id}:{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32
    return timedelta(seconds=base * (0.9 + 0.2 * fraction))


def _claim(now: datetime, limit: int, only: Collection[int] | None) -> list[WebhookDelivery]:
    """Take up to `limit` due deliveries of subscriptions that are not disabled, and lease them: their
    next attempt moves past the time one attempt can take, so no other sender takes them meanwhile (and
    if this one dies, they come back when the lease ends)."""
    lease = now + timedelta(seconds=_timeout() + 60)
    with transaction.atomic():
        due = (
            WebhookDelivery.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .exclude(subscription__state=SubscriptionState.DISABLED)
            .select_related("subscription", "event")
            .order_by("next_attempt_at", "id")
        )
        if only is not None:
            due = due.filter(pk__in=list(only))
        taken = list(due[:limit])
        if taken:
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in taken]).update(next_attempt_at=lease)
    return taken


@dataclass(frozen=True)
class _Request:
    delivery: WebhookDelivery
    url: str
    body: bytes
    headers: dict[str, str]


def _prepare(delivery: WebhookDelivery, secrets: list[WebhookSecret], now: datetime, signed: bool) -> _Request:
    if delivery.event is not None:
        body = signing.event_body(delivery.event)
    else:
        body = signing.ping_body(delivery.payload or {}, delivery.created_at)
    headers = signing.headers(
        message_id=delivery.message_id, at=now, body=body, secrets_=[s.secret for s in secrets] if signed else None
    )
    return _Request(delivery=delivery, url=delivery.subscription.url, body=body, headers=headers)


def _exchange(request: _Request, *, resolver, allow_loopback: bool, timeout: float, cap: int, ssl_context):
    """Check the URL again (its DNS may have changed since it was saved), then POST to the address checked.
    A refusal is an attempt that failed without any connection."""
    try:
        target = transport.target_for(request.url, resolver=resolver, allow_loopback=allow_loopback)
    except transport.UrlRefused as refused:
        return transport.Response(status=None, duration_ms=0, error=f"refused: {refused.reason}"[:300])
    return transport.post(
        target, body=request.body, headers=request.headers, timeout=timeout, cap=cap, ssl_context=ssl_context
    )


def deliveries_send_due(
    *,
    now: datetime | None = None,
    limit: int | None = None,
    resolver: transport.Resolver | None = None,
    ssl_context=None,
    signed: bool = True,
    only: Collection[int] | None = None,
) -> list[int]:
    """Send what is due (`only` these deliveries, if given) and record each answer; the ids attempted.
    Up to CREDENCE_WEBHOOK_SEND_CONCURRENCY POSTs at once, each bounded by the timeout, each answer
    recorded as it arrives: a receiver that hangs holds one thread for the timeout, not the others."""
    now = now or timezone.now()
    taken = _claim(now, limit or settings.CREDENCE_WEBHOOK_SEND_BATCH, only)
    if not taken:
        return []
    secrets = _signing_secrets({d.subscription_id for d in taken}, now)
    requests = [_prepare(d, secrets.get(d.subscription_id, []), now, signed) for d in taken]
    options = {
        "resolver": resolver or _resolver(),
        "allow_loopback": _allow_loopback(),
        "timeout": _timeout(),
        "cap": settings.CREDENCE_WEBHOOK_RESPONSE_CAP_BYTES,
        "ssl_context": ssl_context,
    }
    workers = max(1, min(settings.CREDENCE_WEBHOOK_SEND_CONCURRENCY, len(requests)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
        pending = {pool.submit(_exchange, request, **options): request.delivery.pk for request in requests}
        while pending:
            # The POSTs go on in the pool; this thread records what has answered, a group at a time (a few
            # statements for the lot, not a transaction per answer): an answer waits at most RECORD_EVERY.
            wait(pending, return_when=FIRST_COMPLETED)
            time.sleep(RECORD_EVERY)
            done = [future for future in pending if future.done()]
            deliveries_record(answers=[(pending.pop(future), future.result()) for future in done], now=now)
    return [d.pk for d in taken]


@transaction.atomic
def deliveries_record(*, answers: list[tuple[int, transport.Response]], now: datetime) -> list[WebhookDelivery]:
    """Record attempts' answers (delivery id, response): each delivered, or its next attempt scheduled, or
    (a day after its first attempt) failed, which makes an active subscription failing and tells its
    owner. Set-based: one read, one insert of the attempts, one update of the deliveries, and one update
    per kind of change to the subscriptions, however many answers."""
    if not answers:
        return []
    found = {
        d.pk: d for d in WebhookDelivery.objects.select_for_update(no_key=True).filter(pk__in=[pk for pk, _ in answers])
    }
    answers = [(pk, response) for pk, response in answers if pk in found]  # a deleted subscription's: gone
    retry_window = timedelta(hours=settings.CREDENCE_WEBHOOK_RETRY_HOURS)
    attempts, succeeded, failures, given_up = [], set(), defaultdict(int), set()
    for pk, response in answers:
        delivery = found[pk]
        attempts.append(
            WebhookAttempt(
                delivery_id=pk,
                attempted_at=now,
                status_code=response.status,
                duration_ms=response.duration_ms,
                response_excerpt=response.excerpt,
                error=response.error[:300],
            )
        )
        delivery.attempts += 1
        delivery.first_attempt_at = delivery.first_attempt_at or now
        delivery.last_status_code = response.status
        delivery.last_error = response.error[:300]
        delivery.last_duration_ms = response.duration_ms
        if response.ok:
            delivery.state = DeliveryState.DELIVERED
            delivery.delivered_at = now
            succeeded.add(delivery.subscription_id)
            continue
        failures[delivery.subscription_id] += 1
        gives_up_at = delivery.first_attempt_at + retry_window
        if now >= gives_up_at:
            delivery.state = DeliveryState.FAILED
            given_up.add(delivery.subscription_id)
        else:
            delivery.next_attempt_at = min(now + retry_delay(delivery.attempts, pk), gives_up_at)
        logger.info(
            "webhook delivery %s (webhook %s) attempt %s failed: %s",
            pk,
            delivery.subscription_id,
            delivery.attempts,
            response.error or response.status,
        )
    WebhookAttempt.objects.bulk_create(attempts)
    WebhookDelivery.objects.bulk_update(
        [found[pk] for pk, _ in answers],
        [
            "attempts",
            "first_attempt_at",
            "last_status_code",
            "last_error",
            "last_duration_ms",
            "state",
            "delivered_at",
            "next_attempt_at",
        ],
    )
    for outcome, count in Counter(ATTEMPT_OUTCOMES[found[pk].state] for pk, _ in answers).items():
        metrics.count_on_commit(metrics.WEBHOOK_DELIVERIES, count, outcome=outcome)
    subscriptions = WebhookSubscription.objects
    # A success clears the failures counted before it; the answers of one batch count in this order.
    recovered = succeeded - set(failures)
    if recovered:
        subscriptions.filter(pk__in=recovered, consecutive_failures__gt=0).update(consecutive_failures=0)
    if succeeded:
        subscriptions.filter(pk__in=succeeded, state=SubscriptionState.FAILING).update(
            state=SubscriptionState.ACTIVE, failing_since=None, updated_at=now
        )
    for subscription_id, count in failures.items():
        subscriptions.filter(pk=subscription_id).update(consecutive_failures=F("consecutive_failures") + count)
    for subscription_id in sorted(given_up):
        if subscriptions.filter(pk=subscription_id, state=SubscriptionState.ACTIVE).update(
            state=SubscriptionState.FAILING, failing_since=now, updated_at=now
        ):
            _tell_owner_failing(subscription_id, now)
    return [found[pk] for pk, _ in answers]


def _tell_owner_failing(subscription_id: int, now: datetime) -> None:
    """A notification (in this transaction) and an email (after commit) to the agent's owner."""
    subscription = WebhookSubscription.objects.select_related("agent__owner").get(pk=subscription_id)
    agent, owner = subscription.agent, subscription.agent.owner
    link = f"/me/agents/{agent.pk}/webhooks/{subscription.pk}/"
    text = (
        f"@{agent.handle}'s webhook to {_short(subscription.url)} is failing: a delivery was retried for "
        f"{settings.CREDENCE_WEBHOOK_RETRY_HOURS} hours without success."
    )
    notification_send(
        user_id=owner.pk,
        kind=NotificationKind.WEBHOOK_FAILING,
        subject=f"webhook:{subscription.pk}:{int(now.timestamp())}",
        text=text,
        link=link,
        now=now,
    )
    email = owner.email

    def mail() -> None:
        try:
            send_mail(
                subject=f"Credence: @{agent.handle}'s webhook is failing",
                message=f"{text}\n\nSee its delivery log: {settings.SITE_URL}{link}\n",
                from_email=None,
                recipient_list=[email],
            )
        except Exception:
            logger.exception("could not email the owner of webhook %s", subscription_id)

    transaction.on_commit(mail)


def _short(url: str) -> str:
    return url if len(url) <= 80 else url[:79] + "…"
