"""Rows for tests, one builder per model a test builds. State transitions go through the services, so a
test never fakes a state a service would refuse; the only shortcut is the clock (a closing time or a
challenge deadline moved into the past), which no service can move."""

import itertools
import math
import random
from datetime import timedelta
from decimal import Decimal

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from apps.accounts.models import User, VerificationLevel
from apps.accounts.services import user_email_verified
from apps.core.amounts import CREDIT
from apps.identities.models import AutonomyLevel, Identity
from apps.identities.services import agent_create, api_key_create, identity_suspend
from apps.ledger.models import Transfer
from apps.ledger.services import EXTERNAL_WORLD, ledger_transfer, system_account, wallet_for, wallet_fund_agent
from apps.markets.models import Claim, Domain, Resolution, Trade
from apps.markets.pricing import Order
from apps.markets.resolution import claims_close_due, resolution_finalize, resolution_propose
from apps.markets.services import claim_create, trade_place
from apps.markets.settlement import market_settle
from apps.reputation.models import Belief
from apps.reputation.services import belief_state
from apps.reviews.models import CheckpointPolicy, ReviewRequest
from apps.reviews.services import policy_create, review_ask, review_request_open

PASSWORD = "correct-horse-battery-staple"
GRANT = 1000 * CREDIT  # what a verified person is granted at signup (CREDENCE_SIGNUP_GRANT_CREDITS)
LIQUIDITY = 100 * CREDIT  # a claim's default liquidity b
SUBSIDY = 69_314_719  # what opening a market of b = 100 credits costs its author: ceil(100 credits * ln 2)
BOT_FUNDS = 200 * CREDIT  # what funded_agent() moves to the agent by default
TITLE = "Will the experiment replicate?"
CRITERIA = "Resolves YES if the replication paper reports p < 0.05 by the close."
EVIDENCE = "The record says so."

_keys = itertools.count(1)  # idempotency keys the builders make up are unique within a run


# --- People ---------------------------------------------------------------------------------------------


class UserFactory(factory.django.DjangoModelFactory):
    """A user who signed up and has not confirmed their email: no identity, no wallet, no grant."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def verified_user(email: str | None = None, *, level: str = VerificationLevel.VERIFIED_HUMAN, **kwargs) -> User:
    """A user who signed up and confirmed their email (a human identity and the signup grant), and then was
    verified as a human: the people of most tests propose outcomes, sit on dispute panels, own and fund agents
    and weigh fully in the consensus, which all need it. `level=EMAIL_VERIFIED` (or `unverified_user()`) stops
    at the confirmed email: the person the unlocks refuse."""
    user = UserFactory(**({"email": email} if email else {}), **kwargs)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    user_email_verified(user=user)
    if level != VerificationLevel.EMAIL_VERIFIED:
        # No service raises a level yet (the verification page will): set as a staff review would.
        User.objects.filter(pk=user.pk).update(verification_level=level)
    user.refresh_from_db()
    return user


def unverified_user(email: str | None = None, **kwargs) -> User:
    """A person who confirmed their email and no more (email_verified, not a verified human): an identity, the
    signup grant, and only what an unverified account may do."""
    return verified_user(email, level=VerificationLevel.EMAIL_VERIFIED, **kwargs)


def human(user: User | None = None) -> Identity:
    """The human identity of `user` (of a new verified user if none), whose wallet holds the signup grant."""
    user = user or verified_user()
    return Identity.objects.get(user=user)


def unverified_human() -> Identity:
    """The human identity of a new person who confirmed their email but is not a verified human."""
    return human(unverified_user())


def moderator(email: str = "moderator@staff.example.com") -> User:
    """A staff moderator without an identity of their own (get or create: one per email is enough)."""
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, PASSWORD, is_staff=True)
    return user


def agent(owner: User | None = None, handle: str | None = None, **provenance) -> Identity:
    """An active agent of `owner` (of a new verified user if none), autonomous unless told, with an empty wallet."""
    owner = owner or verified_user()
    handle = handle or f"agent-{Identity.objects.count() + 1}-{owner.pk}"
    provenance.setdefault("autonomy_level", AutonomyLevel.AUTONOMOUS)
    return agent_create(owner=owner, handle=handle, **provenance)


def funded_agent(
    owner: User | None = None, handle: str | None = None, amount: int = BOT_FUNDS, key: str | None = None, **provenance
) -> Identity:
    """An agent whose owner moved `amount` micro-credits (200 credits unless told) from their wallet to its own,
    with the funding's idempotency key `key` (fund-<handle> unless told)."""
    bot = agent(owner, handle, **provenance)
    wallet_fund_agent(owner=bot.owner, agent=bot, amount=amount, idempotency_key=key or f"fund-{bot.handle}")
    return bot


def api_key(agent_identity: Identity, scopes: list[str] | None = None, **kwargs) -> str:
    """A fresh token for the agent (default scopes: read, trade)."""
    _, token = api_key_create(
        agent=agent_identity,
        created_by=agent_identity.owner,
        name=kwargs.pop("name", "test key"),
        scopes=scopes or ["read", "trade"],
        **kwargs,
    )
    return token


def api_key_row(agent_identity: Identity, scopes: list[str] | None = None):
    """A fresh key's row (the token is discarded)."""
    key, _ = api_key_create(
        agent=agent_identity, created_by=agent_identity.owner, name="test key", scopes=scopes or ["read", "trade"]
    )
    return key


def fund(identity: Identity, credits: int) -> Transfer:
    """`credits` whole credits paid into the identity's wallet from outside the system (a test_funding transfer)."""
    return ledger_transfer(
        lines=[(system_account(EXTERNAL_WORLD), -credits * CREDIT), (wallet_for(identity), credits * CREDIT)],
        kind="test_funding",
        idempotency_key=f"test-fund:{identity.pk}:{credits}:{next(_keys)}",
    )


# --- Claims and their markets ---------------------------------------------------------------------------


def domain(slug: str = "science") -> Domain:
    """A domain by slug: one of the defaults a migration creates (made again if a transactional test flushed it)."""
    return Domain.objects.get_or_create(slug=slug, defaults={"name": slug.capitalize()})[0]


_domain = domain  # the builder, under a name the builders' `domain` parameters do not hide


def new_claim(
    author: Identity | None = None,
    domain: Domain | None = None,
    *,
    title: str = TITLE,
    criteria: str = CRITERIA,
    tags=("Replication", "psychology"),
    liquidity: int = LIQUIDITY,
    closes_in: timedelta = timedelta(days=7),
    resolves_in: timedelta = timedelta(days=7),
    publish: bool = True,
) -> Claim:
    """A claim through claim_create, read back from the database: published (its market open, the author's
    wallet charged the subsidy of `liquidity`) unless publish=False, which leaves a draft. It closes in
    `closes_in` and must be resolved `resolves_in` after that."""
    author = author or human()
    closes_at = timezone.now() + closes_in
    claim = claim_create(
        author=author,
        title=title,
        criteria=criteria,
        domain=domain or _domain(),
        closes_at=closes_at,
        resolve_by=closes_at + resolves_in,
        liquidity=liquidity,
        tags=list(tags),
        publish=publish,
    )
    return Claim.objects.get(pk=claim.pk)


def buy(identity: Identity, claim: Claim, side: str = "yes", credits=1, belief=None, key: str | None = None) -> Trade:
    """A placed trade: `identity` spends `credits` whole credits on `side`, with an optional stated belief."""
    order = Order(kind="buy", side=side, amount=credits * CREDIT, belief=belief)
    return trade_place(identity=identity, claim=claim, order=order, idempotency_key=key or f"buy:{next(_keys)}")


def state(identity: Identity, claim: Claim, probability, key: str | None = None, rationale: str = "") -> Belief:
    """A stated belief: `identity` says the claim is `probability` likely, with an optional rationale (stating
    the same again is a replay)."""
    return belief_state(
        identity=identity,
        claim=claim,
        probability=probability,
        rationale=rationale,
        idempotency_key=key or f"b:{claim.pk}:{identity.pk}:{probability}",
    )


def closing_time_passes(claim: Claim) -> None:
    """The claim's closing time is a second behind us; the close task has not run yet (its status says open)."""
    Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now() - timedelta(seconds=1))


def close(claim: Claim, *, keep_closing_time: bool = False) -> Claim:
    """A closed claim (refreshed): its closing time moved to now, after every forecast so far, and the close
    task run. keep_closing_time leaves a closing time a test already put in the past where it is."""
    if not keep_closing_time:
        Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now())
    claims_close_due()
    claim.refresh_from_db()
    return claim


def propose(
    claim: Claim, outcome: str = "yes", proposer: Identity | None = None, evidence: str = EVIDENCE
) -> Resolution:
    """A proposed outcome on a closed claim, its bond posted by `proposer` (a new person without a position if none)."""
    return resolution_propose(claim=claim, proposer=proposer or human(), outcome=outcome, evidence=evidence)


def challenge_window_passes(claim: Claim) -> None:
    """The proposal's challenge deadline is a second behind us; nothing has finalized it yet."""
    Resolution.objects.filter(claim=claim).update(challenge_deadline=timezone.now() - timedelta(seconds=1))


def finalize(claim: Claim) -> Claim:
    """A resolved claim (refreshed): the challenge window of its proposal passed and the proposal finalized."""
    challenge_window_passes(claim)
    resolution_finalize(claim=claim)
    claim.refresh_from_db()
    return claim


def settle(claim: Claim) -> Claim:
    """A settled claim (refreshed): market_settle paid the winners, refunded the bond and scored the forecasts."""
    market_settle(claim=claim)
    claim.refresh_from_db()
    return claim


def resolve(
    claim: Claim,
    outcome: str,
    resolver: Identity | None = None,
    *,
    keep_closing_time: bool = False,
    settled: bool = True,
) -> Claim:
    """A claim resolved `outcome` the real way (refreshed): closed, proposed by `resolver`, its challenge window
    passed, finalized, and settled (which scores) unless settled=False."""
    close(claim, keep_closing_time=keep_closing_time)
    propose(claim, outcome, resolver)
    finalize(claim)
    return settle(claim) if settled else claim


def history(
    forecasts: dict,
    author: Identity,
    domain: Domain,
    resolver: Identity,
    *,
    outcome: str = "yes",
    claims: int = 1,
    title: str | None = None,
    liquidity: int = 10 * CREDIT,
) -> list[Claim]:
    """`claims` settled claims in `domain` ("Will science claim 1 hold?", … or all `title`), on each of which
    every identity in `forecasts` ({identity: probability}) stated its probability while the price was 0.5;
    each resolved `outcome` through the real path (close, propose, finalize, settle, score). Identities given
    the same probability get exactly the same record. The default b = 10 credits (6.93 to open) lets the
    author's signup grant open every claim a test builds."""
    done = []
    for n in range(claims):
        claim = new_claim(author, domain, title=title or f"Will {domain.slug} claim {n + 1} hold?", liquidity=liquidity)
        for identity, probability in forecasts.items():
            state(identity, claim, probability, key=f"history:{claim.pk}:{identity.pk}")
        done.append(resolve(claim, outcome, resolver))
    return done


def signals(
    noise: dict, author: Identity, domain: Domain, resolver: Identity, *, claims: int, seed: int = 1
) -> list[Claim]:
    """`claims` settled claims in `domain`, each with a hidden true log-odds drawn from Normal(0, 1.5^2) and
    an outcome drawn from it; every identity in `noise` ({identity: sd}) states sigmoid of the truth plus
    its own Normal(0, sd^2) noise, as the reputation simulation's sources do. Seeded: the same arguments
    give the same beliefs and outcomes. A smaller sd is a sharper source."""
    rng = random.Random(seed)
    done = []
    for _ in range(claims):
        truth = rng.gauss(0, 1.5)
        outcome = "yes" if rng.random() < 1 / (1 + math.exp(-truth)) else "no"
        claim = new_claim(author, domain, title=TITLE, liquidity=LIQUIDITY)
        for identity, sd in noise.items():
            said = 1 / (1 + math.exp(-(truth + sd * rng.gauss(0, 1))))
            probability = min(max(Decimal(f"{said:.6f}"), Decimal("0.000001")), Decimal("0.999999"))
            state(identity, claim, probability, key=f"signals:{claim.pk}:{identity.pk}")
        done.append(resolve(claim, outcome, resolver))
    return done


def ranked_history(sharp: Identity, fair: Identity, poor: Identity, author, domain, resolver, *, claims: int):
    """`claims` signals() claims in `domain` on which `sharp` (noise sd 0.1), `fair` (0.5) and `poor` (2.0)
    stated beliefs beside four others of sd 0.3, who are then suspended so that boards list the three alone.
    Their weights then rank sharp > fair > poor, whoever owns whom (a person and their agent are fitted
    against the four others' pool, not each other's)."""
    crowd = {human(): 0.3 for _ in range(4)}
    done = signals({sharp: 0.1, fair: 0.5, poor: 2.0} | crowd, author, domain, resolver, claims=claims)
    for other in crowd:
        identity_suspend(identity=other, reason="Only the three are ranked.", moderator=moderator())
    return done


def track(forecasts: dict, author: Identity, domain: Domain, resolver: Identity, *, outcome: str, claims: int = 1):
    """history() of claims titled and funded like new_claim()'s (b = 100 credits)."""
    return history(
        forecasts, author, domain, resolver, outcome=outcome, claims=claims, title=TITLE, liquidity=LIQUIDITY
    )


# --- Reviews ---------------------------------------------------------------------------------------------


def verified_human(user: User | None = None) -> Identity:
    """A person's identity whose user is a verified human (the level panels draw from)."""
    person = human(user)
    person.user.verification_level = VerificationLevel.VERIFIED_HUMAN
    person.user.save(update_fields=["verification_level"])
    return person


def staff_member() -> Identity:
    """A staff member's own identity (staff review escalated requests and staff-pool policies)."""
    return human(verified_user(is_staff=True))


def policy(
    checkpoint: str,
    condition: str = "",
    *,
    key: str | None = None,
    decisions: tuple[str, ...] = ("approve", "reject"),
    pool: str = "staff",
    reviewers_required: int = 1,
    agreement: str = "first",
    timeout_seconds: int = 3600,
    on_timeout: str = "reject",
    **values,
) -> CheckpointPolicy:
    """A current review policy on `checkpoint` (version 1), through policy_create: it type-checks."""
    return policy_create(
        key=key or f"policy-{next(_keys)}",
        created_by=None,
        checkpoint=checkpoint,
        condition=condition,
        decisions=list(decisions),
        pool=pool,
        reviewers_required=reviewers_required,
        agreement=agreement,
        timeout_seconds=timeout_seconds,
        on_timeout=on_timeout,
        **values,
    )


def question(
    requester: Identity,
    *,
    key: str | None = None,
    question: str = "Yes or no?",
    answer_schema: dict | None = None,
    pool: str = "owner",
    price: int = 0,
    **values,
) -> ReviewRequest:
    """An agent's question to a person (review_ask): to its owner, one answer, yes or no, in ten minutes."""
    return review_ask(
        requester=requester,
        question=question,
        context=values.pop("context", {}),
        answer_schema=answer_schema or {"type": "string", "enum": ["yes", "no"]},
        pool=pool,
        pool_scope=values.pop("pool_scope", ""),
        reviewers_required=values.pop("reviewers_required", 1),
        agreement=values.pop("agreement", "first"),
        timeout_seconds=values.pop("timeout_seconds", 600),
        timeout_answer=values.pop("timeout_answer", None),
        price=price,
        idempotency_key=key or f"question-{next(_keys)}",
        **values,
    )


def paused(
    requester: Identity,
    *,
    checkpoint: str = "explicit",
    key: str | None = None,
    payload: dict | None = None,
    pool: str = "owner",
    on_timeout: str = "reject",
    price: int = 0,
    **values,
) -> ReviewRequest:
    """A request opened as a checkpoint opens one (review_request_open): approve or reject, one reviewer, the
    first decision, ten minutes; `values` sets the rest (subject, continuation, timeout_seconds, ...)."""
    return review_request_open(
        checkpoint=checkpoint,
        requester=requester,
        subject=values.pop("subject", f"identity:{requester.pk}"),
        payload=payload if payload is not None else {},
        idempotency_key=key or f"paused-{next(_keys)}",
        decisions=values.pop("decisions", ["approve", "reject"]),
        reviewers_required=values.pop("reviewers_required", 1),
        agreement=values.pop("agreement", "first"),
        pool=pool,
        timeout_seconds=values.pop("timeout_seconds", 600),
        on_timeout=on_timeout,
        price=price,
        **values,
    )


# --- Hosted agents ------------------------------------------------------------------------------------------


def hosted(
    bot: Identity | None = None,
    *,
    strategy: str = "base_rate",
    config: dict | None = None,
    budget_per_run: int = 50 * CREDIT,
    budget_per_day: int = 100 * CREDIT,
    budget_per_position: int = 30 * CREDIT,
    **settings,
):
    """A hosted agent through hosted_agent_create: `bot` (a funded agent of a new owner if none) run with
    `strategy`, on events only unless `every_minutes` is given."""
    from apps.agents.services import hosted_agent_create

    bot = bot or funded_agent()
    return hosted_agent_create(
        owner=bot.owner,
        agent=bot,
        strategy=strategy,
        config=config or {},
        budget_per_run=budget_per_run,
        budget_per_day=budget_per_day,
        budget_per_position=budget_per_position,
        **settings,
    )


def manual_run(agent, key: str = "run-1", claims: list[int] | None = None):
    """A run the owner asked for (queued; a test executes it with run_execute)."""
    from apps.agents.services import agent_run_request

    return agent_run_request(hosted=agent, by=agent.identity.owner, key=key, claims=claims)
