"""The run: the population's claims one after another through the real services, each measured at close
with the reliability learned from the claims resolved before it."""

import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.utils import timezone

from apps.accounts.models import User, VerificationLevel
from apps.accounts.services import user_email_verified
from apps.core.amounts import CREDIT
from apps.identities.models import AutonomyLevel, Identity
from apps.identities.services import agent_create
from apps.ledger.errors import InsufficientCredit
from apps.ledger.services import EXTERNAL_WORLD, ledger_transfer, system_account, wallet_for
from apps.markets import hooks
from apps.markets.errors import NothingToTrade, PriceLimitCrossed
from apps.markets.models import Claim, Domain, Market, Outcome, Resolution
from apps.markets.pricing import Order
from apps.markets.resolution import claims_close_due, resolution_finalize, resolution_propose
from apps.markets.services import claim_create, trade_place
from apps.markets.settlement import market_settle
from apps.reputation import maths, selectors, services
from apps.reputation.management.simulation.measures import (
    ClaimResult,
    RunningScore,
    SybilCheck,
    consensus_of,
    sybil_check,
)
from apps.reputation.management.simulation.report import Report, report_of
from apps.reputation.management.simulation.world import (
    MARKET,
    TRUTH_SD,
    Source,
    bounded,
    expected_log_scores,
    oracle,
    population,
    report,
)
from apps.reputation.models import ClaimRecord, Score

HERD = Decimal("-1")  # a herder's belief, read from the market price when its turn comes
LIQUIDITY_CREDITS = 100  # LMSR b of every simulated market
FUNDING_CREDITS = 20_000  # each forecasting source's bankroll, from outside (bought credit)


def tag_taken(tag: str) -> bool:
    return User.objects.filter(email__startswith=f"{tag}-", email__endswith="@sim.example.com").exists()


def free_tag(base: str) -> str:
    """`base`, or `base-2`, `base-3`...: the first tag no earlier run on this database used."""
    tag, n = base, 1
    while tag_taken(tag):
        n += 1
        tag = f"{base}-{n}"
    return tag


def _user(tag: str, key: str, display_name: str, *, verified: bool = True) -> User:
    """A user who signed up and confirmed their email (the signup grant and human identity follow) and, unless
    `verified` is False, was verified as a human (as a staff review would: no service raises a level)."""
    email = f"{tag}-{key}@sim.example.com"
    user = User.objects.create_user(email, None, display_name=display_name)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    user_email_verified(user=user)
    if verified:
        User.objects.filter(pk=user.pk).update(verification_level=VerificationLevel.VERIFIED_HUMAN)
    user.refresh_from_db()
    return user


def _fund(identity: Identity, credits: int, tag: str) -> None:
    ledger_transfer(
        lines=[(system_account(EXTERNAL_WORLD), -credits * CREDIT), (wallet_for(identity), credits * CREDIT)],
        kind="simulation_funding",
        idempotency_key=f"simulation-fund:{tag}:{identity.pk}",
        memo=f"Bankroll of a simulated source ({tag})",
    )


def _materialize(people: list[Source], tag: str, domain_names: list[str]) -> None:
    """Each source's users and identities, and its bankroll. An unverified source's agents are spread over
    as many owners as the unverified limit on agents makes it open, each agent funded no further than an
    unverified owner may fund it: what a swarm of cheap accounts is."""
    per_owner = settings.CREDENCE_UNVERIFIED_MAX_AGENTS
    unverified_funding = settings.CREDENCE_UNVERIFIED_AGENT_FUNDING_LIMIT_CREDITS
    for source in people:
        strengths = ", ".join(f"{name} {s:.2f}" for name, s in zip(domain_names, source.sigma, strict=True))
        description = f"Simulated {source.role} (log-odds noise by domain: {strengths})."
        if source.kind == "human":
            user = _user(tag, source.key, f"Simulated {source.role} {source.key}", verified=source.verified)
            source.identities = [Identity.objects.get(user=user)]
        else:
            owner = None
            for m in range(1, source.members + 1):
                if owner is None or (not source.verified and (m - 1) % per_owner == 0):
                    n = 1 if source.verified else (m - 1) // per_owner + 1
                    owner = _user(
                        tag,
                        f"owner-{source.key}" if n == 1 else f"owner-{source.key}-{n}",
                        f"Owner of simulated {source.key}",
                        verified=source.verified,
                    )
                handle = f"{tag}-{source.key}" if source.members == 1 else f"{tag}-{source.key}-{m}"
                source.identities.append(
                    agent_create(
                        owner=owner,
                        handle=handle,
                        autonomy_level=AutonomyLevel.AUTONOMOUS,
                        display_name=f"Simulated {source.role} {handle.removeprefix(tag + '-')}",
                        description=description,
                        model_name="simulated forecaster",
                        provider="Credence simulation (manage.py reputation_simulate)",
                        model_version="1",
                    )
                )
        for identity in source.identities:
            _fund(identity, FUNDING_CREDITS if source.verified else min(FUNDING_CREDITS, unverified_funding), tag)


def _quantized(p: float) -> Decimal:
    return Decimal(f"{bounded(p):.6f}")


def _twins_beside_their_swarms(acts: list[tuple[Source, Identity, Decimal]]) -> list[tuple[Source, Identity, Decimal]]:
    """Each twin acts just before its swarm's first agent, so both are scored against the same price (an
    owner is scored from the price before its first forecast). At a random place the twin usually faced a
    later price than the swarm's first agent (the earliest of five places), and the comparison measured
    that timing rather than the weight the model gives each. A copier with jitter acts just after what it
    copies: it repeats what it has seen."""
    twins = [act for act in acts if act[0].mirrors not in (None, MARKET)]
    ordered = [act for act in acts if act[0].mirrors in (None, MARKET)]
    for twin in twins:
        first = next(i for i, act in enumerate(ordered) if act[0].key == twin[0].mirrors)
        ordered.insert(first if not twin[0].jitter else first + 1, twin)
    return ordered


def _forecast(source: Source, identity: Identity, claim: Claim, belief: Decimal, rng: random.Random, key: str):
    """Trade toward the belief (a belief order) or state it; a trade that cannot happen (the price is
    already there, or the wallet ran dry) becomes a stated belief. A twin only states its belief: a trade
    would move the price its swarm then faces, and the two would no longer be scored alike."""
    trade = source.action == "trade" or (source.action == "mixed" and rng.random() < 0.5)
    trade = trade and (source.mirrors is None or bool(source.jitter)) and source.mirrors != MARKET
    amount = rng.randint(*source.budget) * CREDIT
    if trade:
        order = Order(kind="belief", belief=belief, amount=amount)
        try:
            trade_place(identity=identity, claim=claim, order=order, idempotency_key=key)
            return
        except (NothingToTrade, PriceLimitCrossed, InsufficientCredit):
            pass
    services.belief_state(identity=identity, claim=claim, probability=belief, idempotency_key=key)


def _resolve(claim: Claim, outcome: bool, resolver: Identity) -> None:
    """Propose the true outcome, let the challenge window pass, finalize and settle (settlement scores)."""
    resolution_propose(
        claim=claim, proposer=resolver, outcome=Outcome.YES if outcome else Outcome.NO, evidence="The simulation."
    )
    Resolution.objects.filter(claim=claim).update(challenge_deadline=timezone.now() - timedelta(seconds=1))
    resolution_finalize(claim=claim)
    market_settle(claim=claim)


def simulate(
    *,
    claims: int = 200,
    sources: int = 60,
    domains: int = 4,
    seed: int = 1,
    warmup: float = 0.5,
    kind: str = "today",
    tag: str | None = None,
    unverified: bool = False,
    on_claim: Callable[[ClaimResult, "RunningScore"], None] | None = None,
) -> Report:
    """Create the population, run `claims` claims one after another through the real services and measure
    the later (1 - warmup) share of them. Everyone is a verified human, except with `unverified`: then the
    swarms are unverified accounts (`_materialize`), and each claim also measures the consensus and the
    swarms' shift of it with every voice counted in full, to show what the cap on unverified weight changes.
    It writes real rows (users, identities, claims, trades, beliefs, scores): run it on a database meant for
    it. The caller decides the transaction."""
    if claims < 4:
        raise ValueError("A simulation needs at least 4 claims.")
    started = time.monotonic()
    rng = random.Random(seed)
    all_domains = list(Domain.objects.order_by("pk"))
    if not 1 <= domains <= len(all_domains):
        raise ValueError(f"domains must be between 1 and {len(all_domains)}.")
    run_domains = all_domains[:domains]
    names = [d.slug for d in run_domains]
    tag = tag or free_tag(f"sim{seed}")
    if tag_taken(tag):
        raise ValueError(f"A simulation tagged {tag!r} already ran on this database.")

    people = population(sources=sources, domains=domains, rng=rng, kind=kind)
    for source in people:
        source.verified = not (unverified and source.role == "swarm")
    expected_log_scores(people, seed=seed)
    authors_n = 3
    with hooks.trade_committed.paused():
        _materialize(people, tag, names)
        authors = [Identity.objects.get(user=_user(tag, f"author{i}", f"Simulation author {i}")) for i in (1, 2, 3)]
        for author in authors:
            _fund(author, LIQUIDITY_CREDITS * (claims // authors_n + 1), tag)
        resolver = Identity.objects.get(user=_user(tag, "resolver", "Simulation resolver"))

        warm = max(1, min(claims - 2, round(claims * warmup)))
        results: list[ClaimResult] = []
        checks: list[SybilCheck] = []
        running = RunningScore()
        flat_history: list[tuple[float, bool]] = []
        swarms = [s for s in people if s.role == "swarm"]
        twins = {s.key.removeprefix("t"): s for s in people if s.role == "twin"}
        source_of = {identity.pk: s for s in people for identity in s.identities}
        for index in range(claims):
            d = rng.randrange(domains)
            truth_logit = rng.gauss(0, TRUTH_SD)
            truth = maths.sigmoid(truth_logit)
            outcome = rng.random() < truth
            now = timezone.now()
            claim = claim_create(
                author=authors[index % authors_n],
                title=f"[{tag}] Simulated claim {index + 1} in {run_domains[d].name}",
                criteria=(
                    f"A claim of the reputation simulation {tag} (seed {seed}): its outcome is drawn from a hidden "
                    "true probability, and each source saw that probability's log-odds through its own noise."
                ),
                domain=run_domains[d],
                closes_at=now + timedelta(days=7),
                resolve_by=now + timedelta(days=14),
                liquidity=LIQUIDITY_CREDITS * CREDIT,
                tags=["simulation", tag],
                publish=True,
            )
            acts, said = [], {}
            for source in people:
                if source.mirrors == MARKET:
                    if rng.random() >= source.participation:
                        continue
                    belief = HERD  # the market price at its turn (below)
                elif source.mirrors is not None:
                    belief = said.get(source.mirrors)
                    if belief is None:
                        continue
                    if source.jitter:
                        belief = _quantized(maths.sigmoid(maths.logit(float(belief)) + rng.gauss(0, source.jitter)))
                elif rng.random() >= source.participation:
                    continue
                else:
                    signal = truth_logit + source.sigma[d] * rng.gauss(0, 1)
                    belief = said[source.key] = _quantized(report(source, d, signal, rng))
                acts.extend((source, identity, belief) for identity in source.identities)
            rng.shuffle(acts)
            acts = _twins_beside_their_swarms(acts)
            for n, (source, identity, belief) in enumerate(acts):
                if belief is HERD:
                    price = float(Market.objects.get(claim=claim).price_yes)
                    belief = _quantized(maths.sigmoid(maths.logit(price) + rng.gauss(0, source.jitter)))
                _forecast(source, identity, claim, belief, rng, key=f"{tag}:{index}:{n}")
            services.consensus_refresh(claim=claim)  # the stored consensus, current for the pages

            Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now())  # after every forecast
            claims_close_due()
            claim.refresh_from_db()
            view = selectors.consensus_compute(claim, before=claim.closes_at)
            voices = [
                maths.Voice(c.identity.pk, c.copying_group, c.raw_weight, c.probability, c.calibration, c.verification)
                for c in view.contributors
            ]
            stats = (view.records, view.population)
            if index >= warm:
                for swarm in swarms:
                    twin = twins.get(swarm.key.removeprefix("s"))
                    members = {i.pk for i in swarm.identities}
                    twin_id = twin.identities[0].pk if twin else None
                    check = sybil_check(swarm.label, claim.pk, voices, stats, members, twin_id, view.alpha)
                    if check is not None:
                        checks.append(check)
            _resolve(claim, outcome, resolver)
            record = ClaimRecord.objects.get(claim=claim)
            probabilities = [v.probability for v in voices]
            # the beliefs as stated, equally weighted (no calibration, no extremizing): the plain pool
            stated = [replace(v, calibration=1.0) for v in voices]
            equal = maths.pooled_logit(stated, dict.fromkeys((v.identity_id for v in voices), 1.0))
            # the same consensus with flat reliability: calibration, copies, the cap and extremizing kept
            flat = [replace(v, weight=1.0) for v in voices]
            flat_pooled = maths.pooled_logit(flat)
            flat_alpha = maths.fit_extremizing(flat_history)
            if flat_pooled is not None and len(flat) >= 2:
                flat_history.append((flat_pooled, outcome))
            reports = {}  # one report per independent signal: a swarm's agents and its twin say one signal
            for v in voices:
                source = source_of[v.identity_id]
                if source.lies or source.jitter:
                    continue  # the oracle knows who lies, and that a copier's or herder's report is no signal
                reports.setdefault(source.mirrors or source.key, (v.probability, source.sigma[d], source.scale[d]))
            result = ClaimResult(
                index=index,
                claim_id=claim.pk,
                domain=d,
                truth=truth,
                outcome=outcome,
                market=float(record.market_price),
                consensus=0.5 if record.consensus is None else float(record.consensus),
                mean=sum(probabilities) / len(probabilities) if probabilities else 0.5,
                equal_pool=0.5 if equal is None else maths.sigmoid(equal),
                flat=0.5 if flat_pooled is None else maths.sigmoid(flat_alpha * flat_pooled),
                weights={v.identity_id: v.weight for v in voices},
                uncut=consensus_of([replace(v, verification=1.0) for v in voices], view.alpha, stats)
                if unverified
                else None,
                oracle=oracle(list(reports.values())),
                forecasts={v.identity_id: v.probability for v in voices},
                contributors=len(voices),
                scores=dict(Score.objects.filter(claim=claim).values_list("identity_id", "relative_log_score")),
            )
            results.append(result)
            if index >= warm:
                running.add(result)
            if on_claim is not None:
                on_claim(result, running)

    return report_of(
        tag=tag,
        seed=seed,
        people=people,
        names=names,
        run_domains=run_domains,
        results=results,
        warm=warm,
        checks=checks,
        seconds=time.monotonic() - started,
        population=kind,
        unverified=unverified,
    )
