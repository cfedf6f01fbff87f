"""A claim's consensus equals a recomputation from the raw rows written out here, independently of
selectors.consensus_compute; its query count does not grow with contributors; and a trade refreshes it
through the markets hook, with one queued task per burst."""

import itertools
import math
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.identities.models import Identity, IdentityKind
from apps.identities.services import identity_suspend
from apps.markets.models import Position
from apps.reputation import maths, tasks
from apps.reputation.models import Belief, ClaimRecord, Consensus, ExtremizingFit, Score
from apps.reputation.selectors import as_decimal, consensus_compute
from apps.reputation.services import consensus_refresh, consensus_refresh_now
from tests import factories
from tests.factories import buy, fund, new_claim, resolve, state, track
from tests.reputation.by_hand import population_by_hand, records_by_hand

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The claim ids whose consensus refresh was queued (the task is never really sent)."""
    calls: list[int] = []
    monkeypatch.setattr(tasks.consensus_refresh_task, "delay", calls.append)
    return calls


def consensus_by_hand(claim, *, without: int | None = None) -> dict:
    """The documented consensus, from the raw rows: each active identity's latest forecast (its latest
    Belief, or its position's last_belief if that trade came later), weighted by its record in the domain
    recomputed from its Score rows (by_hand.records_by_hand, by_hand.population_by_hand), times
    CREDENCE_UNVERIFIED_WEIGHT_FACTOR if its owner is not a verified human, the weights of one owner scaled to
    sum to the smaller of their best member's and the weight of their records added up (one source making all
    their forecasts; cut as its least cut member), a weighted mean of log-odds capped at +-LOGIT_CLIP, each times its
    owner's calibration factor (recomputed from the Score rows), times the fitted alpha, through the
    logistic function."""
    latest: dict[int, tuple[float, object]] = {}
    for belief in Belief.objects.filter(claim=claim).order_by("created_at", "id"):
        latest[belief.identity_id] = (float(belief.probability), belief.created_at)
    for position in Position.objects.filter(market__claim=claim, last_belief__isnull=False):
        stated = latest.get(position.identity_id)
        if stated is None or position.updated_at > stated[1]:
            latest[position.identity_id] = (float(position.last_belief), position.updated_at)
    people = Identity.objects.in_bulk(list(latest))
    latest = {pk: v for pk, v in latest.items() if people[pk].status == "active" and pk != without}
    if not latest:
        return {"probability": None, "pooled": None, "shares": {}, "owners": 0, "groups": 0}

    records = records_by_hand(claim.domain_id)
    shrink = population_by_hand(records)
    raw = {pk: shrink(records.get(pk)) for pk in latest}
    owner = {pk: people[pk].user_id if people[pk].kind == IdentityKind.HUMAN else people[pk].owner_id for pk in latest}
    everyone = Identity.objects.in_bulk()

    def owner_of(identity_id: int) -> int:
        who = everyone[identity_id]
        return who.user_id if who.kind == IdentityKind.HUMAN else who.owner_id

    def capped_logit(p: float) -> float:
        return max(-9.0, min(9.0, math.log(p / (1 - p))))

    # Owners found to copy each other, from the Score rows claim by claim in the order they were scored:
    # each owner's mean log-odds on a claim; every pair compared. Two owners within COPY_TOLERANCE meet at
    # a focal value (no observation) when either has COPY_CROWD - 1 others within it; otherwise they agree
    # if within it, and disagree if not. A pair is watched from an agreement; it is one group while its
    # later agreements outnumber its disagreements by COPY_MARGIN, and forgotten once the disagreements
    # outnumber them by as much; groups join transitively among this claim's owners.
    said: dict[int, dict[int, list[float]]] = {}
    for claim_id, identity_id, p in Score.objects.values_list("claim_id", "identity_id", "probability"):
        said.setdefault(claim_id, {}).setdefault(owner_of(identity_id), []).append(capped_logit(float(p)))
    watched: dict[tuple[int, int], list[int]] = {}
    for claim_id in ClaimRecord.objects.order_by("scored_at", "id").values_list("claim_id", flat=True):
        means = {o: sum(v) / len(v) for o, v in said.get(claim_id, {}).items()}
        close_to = {a: {b for b in means if b != a and abs(means[a] - means[b]) <= maths.COPY_TOLERANCE} for a in means}
        for a, b in itertools.combinations(sorted(means), 2):
            same = b in close_to[a]
            if same and max(len(close_to[a]), len(close_to[b])) >= maths.COPY_CROWD - 1:
                continue
            if (a, b) in watched:
                watched[(a, b)][0] += 1
                watched[(a, b)][1] += same
                if (watched[(a, b)][1] - 1) - (watched[(a, b)][0] - watched[(a, b)][1]) <= -maths.COPY_MARGIN:
                    del watched[(a, b)]
            elif same:
                watched[(a, b)] = [1, 1]
    group = {o: o for o in owner.values()}
    for (a, b), (n, agreed) in sorted(watched.items()):
        if (agreed - 1) - (n - agreed) >= maths.COPY_MARGIN and a in group and b in group:
            low, high = sorted((group[a], group[b]))
            group = {o: low if g == high else g for o, g in group.items()}
    cluster = {pk: group[owner[pk]] for pk in latest}
    # An owner who is not a verified human weighs CREDENCE_UNVERIFIED_WEIGHT_FACTOR of their weight, agents and all.
    levels = dict(User.objects.filter(pk__in=set(owner.values())).values_list("pk", "verification_level"))
    cut = {
        pk: 1.0 if levels[owner[pk]] == "verified_human" else settings.CREDENCE_UNVERIFIED_WEIGHT_FACTOR for pk in raw
    }

    total_of, best_of, summed, most_cut = {}, {}, {}, {}
    for pk, w in raw.items():
        total_of[cluster[pk]] = total_of.get(cluster[pk], 0.0) + w * cut[pk]
        best_of[cluster[pk]] = max(best_of.get(cluster[pk], 0.0), w * cut[pk])
        most_cut[cluster[pk]] = max(most_cut.get(cluster[pk], 0.0), cut[pk])
        # the group's records added up, as if one source had made all of them
        mine = records.get(pk, ((), ()))
        held = summed.get(cluster[pk], ((), ()))
        summed[cluster[pk]] = (held[0] + mine[0], held[1] + mine[1])
    whole = {o: shrink(record) * most_cut[o] for o, record in summed.items()}
    cap = {o: min(best_of[o], whole[o]) for o in best_of}
    weights = {
        pk: w * cut[pk] * cap[cluster[pk]] / total_of[cluster[pk]] if total_of[cluster[pk]] else 0.0
        for pk, w in raw.items()
    }
    if not any(weights.values()):  # nobody weighs anything: each copying group heard once, equally (each cut)
        weights = {
            pk: cut[pk] * most_cut[cluster[pk]] / sum(cut[o] for o in raw if cluster[o] == cluster[pk]) for pk in raw
        }

    # Each owner's calibration factor, from the Score rows: per resolved claim, the mean over the owner's
    # identities that forecast it of ln P(outcome | sigmoid(c * logit(p))), at every grid factor c; the
    # posterior on the lognormal prior, with the other domains' claims at CALIBRATION_POWER; its
    # geometric mean.
    def likelihood(p: float, yes: bool, c: float) -> float:
        return -math.log1p(math.exp(-c * (capped_logit(p) if yes else -capped_logit(p))))

    claims_of: dict[int, dict[int, list]] = {}  # owner -> claim -> [(p, outcome, domain)]
    for identity_id, claim_id, domain_id, p, yes in Score.objects.values_list(
        "identity_id", "claim_id", "domain_id", "probability", "outcome"
    ):
        mine = claims_of.setdefault(owner_of(identity_id), {})
        mine.setdefault(claim_id, []).append((float(p), yes, domain_id))

    def factor(o: int) -> float:
        claims = claims_of.get(o, {})
        if not claims:
            return 1.0
        post = []
        for c in maths.CALIBRATION_GRID:
            here = elsewhere = 0.0
            for rows in claims.values():
                mean = sum(likelihood(p, yes, c) for p, yes, _ in rows) / len(rows)
                if rows[0][2] == claim.domain_id:
                    here += mean
                else:
                    elsewhere += mean
            post.append(
                -(math.log(c) ** 2) / (2 * maths.CALIBRATION_PRIOR_SD**2) + maths.CALIBRATION_POWER * elsewhere + here
            )
        mass = [math.exp(v - max(post)) for v in post]
        return math.exp(sum(m * math.log(c) for m, c in zip(mass, maths.CALIBRATION_GRID, strict=True)) / sum(mass))

    factors = {pk: factor(owner[pk]) for pk in latest}
    pooled = sum(weights[pk] * factors[pk] * capped_logit(p) for pk, (p, _) in latest.items()) / sum(weights.values())
    fit = ExtremizingFit.objects.order_by("-id").first()
    alpha = fit.alpha if fit else 1.0
    return {
        "probability": 1 / (1 + math.exp(-alpha * pooled)),
        "pooled": pooled,
        "shares": {pk: w / sum(weights.values()) for pk, w in weights.items()},
        "owners": len(set(owner.values())),
        "groups": len(set(cluster.values())),
        "alpha": alpha,
        "factors": factors,
    }


def test_the_consensus_equals_a_recomputation_from_the_raw_rows(author, domain, resolver):
    # given a history of twenty claims that gave sources different records and fitted alpha > 1: two humans,
    # a third who copies the first, two agents of one owner, and a source that will be suspended
    h1, h2, suspended, copier = factories.human(), factories.human(), factories.human(), factories.human()
    owner = factories.verified_user()
    owner_self, a1, a2 = factories.human(owner), factories.agent(owner=owner), factories.agent(owner=owner)
    for i in range(20):
        leans_yes, right = i < 10, i % 10 < 7  # 14 of the 20 go the way the sources lean
        outcome = "yes" if leans_yes == right else "no"
        says = {h1: Decimal("0.62"), h2: Decimal("0.55"), a1: Decimal("0.6"), suspended: Decimal("0.58")}
        says = {who: p if leans_yes else 1 - p for who, p in says.items()}
        says[copier] = says[h1]
        if i < 8:
            says[a2] = Decimal("0.45") if leans_yes else Decimal("0.55")  # a2 leans the wrong way
        track(says, author, domain, resolver, outcome=outcome)
    alpha = ExtremizingFit.objects.get().alpha
    assert alpha > 1.0

    # and, on a new claim, a mix of stated beliefs and trades, a newcomer agent, later forecasts replacing
    # earlier ones, and a suspended identity
    a3 = factories.agent(owner=owner)
    fund(a2, 100)
    claim = new_claim(author, domain)
    t1, t2, newcomer = factories.human(), factories.unverified_human(), factories.unverified_human()
    state(h1, claim, Decimal("0.8"))
    state(copier, claim, Decimal("0.8"))
    state(h2, claim, Decimal("0.3"))
    buy(h2, claim, "yes", credits=5, belief=Decimal("0.6"), key="h2")  # later: the trade's belief counts
    state(owner_self, claim, Decimal("0.5"), key="o1")
    state(owner_self, claim, Decimal("0.55"), key="o2")  # later: replaces 0.5
    state(a1, claim, Decimal("0.75"))
    buy(a2, claim, "no", credits=10, key="a2")  # the price it moved to
    state(a3, claim, Decimal("0.1"))
    buy(t1, claim, "yes", credits=8, key="t1")
    buy(t2, claim, "no", credits=3, key="t2")
    state(t2, claim, Decimal("0.45"))  # later: the belief counts
    state(newcomer, claim, Decimal("0.2"))
    state(suspended, claim, Decimal("0.99"))
    identity_suspend(identity=suspended, reason="Testing.", moderator=factories.moderator())

    # when the consensus is refreshed and computed
    stored = consensus_refresh(claim=claim)
    view = consensus_compute(claim, explain=True)
    expected = consensus_by_hand(claim)

    # then both match the recomputation
    assert expected["alpha"] == alpha
    assert view.alpha == alpha
    assert view.pooled_logit == pytest.approx(expected["pooled"], abs=1e-12)
    assert view.probability == pytest.approx(expected["probability"], abs=1e-12)
    assert stored.probability == as_decimal(expected["probability"])
    assert stored.pooled_logit == pytest.approx(expected["pooled"], abs=1e-12)
    assert {c.identity.pk: c.weight for c in view.contributors} == pytest.approx(expected["shares"], abs=1e-12)
    assert {c.identity.pk: c.calibration for c in view.contributors} == pytest.approx(expected["factors"], abs=1e-12)
    # the history made the owners' factors differ from one another (else calibration went untested here)
    assert len({round(f, 6) for f in expected["factors"].values()}) >= 3
    assert (stored.contributors, stored.owners, stored.humans, stored.agents) == (10, 7, 7, 3)
    assert (expected["owners"], expected["groups"], view.copying_groups) == (7, 6, 6)  # the copier counts with h1
    assert suspended.pk not in expected["shares"]
    # and each contributor's pull is the consensus minus the consensus without it
    for contributor in view.contributors:
        without = consensus_by_hand(claim, without=contributor.identity.pk)["probability"]
        assert contributor.pull == pytest.approx(expected["probability"] - without, abs=1e-12)


def test_computing_the_consensus_takes_as_many_queries_for_twenty_contributors_as_for_two(author, domain, resolver):
    # given 22 identities with records (six agents, two of each of three owners), a claim with two of them (a
    # belief and a trade) and a claim with the other twenty (ten beliefs, ten trades); half the people and two
    # of the owners are not verified humans (their level rides in the queries that read the forecasts)
    owners = [factories.unverified_user(), factories.verified_user(), factories.unverified_user()]
    people = [factories.human() if i % 2 else factories.unverified_human() for i in range(16)]
    people += [factories.agent(owner=owners[i // 2]) for i in range(6)]
    for agent in people[16:]:
        fund(agent, 50)
    track(dict.fromkeys(people, Decimal("0.7")), author, domain, resolver, outcome="yes")
    small, big = new_claim(author, domain), new_claim(author, domain)
    state(people[0], small, Decimal("0.6"))
    buy(people[1], small, "yes", credits=2, key="small")
    for i, person in enumerate(people[2:]):  # each claim ends with a trade, so each refresh has news to announce
        if i % 2:
            buy(person, big, "no", credits=1, key=f"big:{i}")
        else:
            state(person, big, Decimal("0.6"))

    # when each consensus is computed (and explained, and refreshed) under a query counter
    counts = {}
    for name, claim in (("small", small), ("big", big)):
        with CaptureQueriesContext(connection) as plain:
            view = consensus_compute(claim)
        with CaptureQueriesContext(connection) as explained:
            consensus_compute(claim, explain=True)
        with CaptureQueriesContext(connection) as refreshed:
            consensus_refresh(claim=claim)
        counts[name] = (len(view.contributors), len(plain), len(explained), len(refreshed))

    # then only the number of contributors differs
    assert counts["small"][0] == 2
    assert counts["big"][0] == 20
    assert counts["small"][1:] == counts["big"][1:]
    assert counts["small"][1] == 7  # beliefs, positions, alpha, reliability, population, calibration, copy groups


def test_trades_queue_one_refresh_that_brings_the_consensus_up_to_date(
    author, domain, queued, django_capture_on_commit_callbacks
):
    # given an open claim with no consensus yet
    claim = new_claim(author, domain)
    alice, bob, carol = factories.human(), factories.human(), factories.human()

    # when two trades commit
    with django_capture_on_commit_callbacks(execute=True):
        buy(alice, claim, "yes", credits=5, key="a")
    with django_capture_on_commit_callbacks(execute=True):
        buy(bob, claim, "no", credits=2, key="b")

    # then one refresh was queued, and nothing was computed in the trades themselves
    assert queued == [claim.pk]
    assert not Consensus.objects.filter(claim=claim).exists()

    # when the queued task runs, then the consensus holds both traders
    tasks.consensus_refresh_task(claim.pk)
    consensus = Consensus.objects.get(claim=claim)
    assert consensus.contributors == 2
    assert consensus.probability == as_decimal(consensus_by_hand(claim)["probability"])

    # and a trade after that refresh started queues another
    with django_capture_on_commit_callbacks(execute=True):
        buy(carol, claim, "yes", credits=1, key="c")
    assert queued == [claim.pk, claim.pk]
    assert consensus_refresh_now(claim.pk).contributors == 3
    assert consensus_refresh_now(10**9) is None


def test_scoring_queues_a_refresh_of_the_open_claims_its_sources_are_on(
    author, domain, resolver, queued, django_capture_on_commit_callbacks
):
    # given alice on an open claim (a belief) and bob on another (a trade), both on a claim about to resolve;
    # and a third open claim neither is on
    alice, bob, other = factories.human(), factories.human(), factories.human()
    open_belief, open_trade, untouched = (new_claim(author, domain) for _ in range(3))
    state(alice, open_belief, Decimal("0.4"))
    buy(bob, open_trade, "yes", credits=1, key="open")
    state(other, untouched, Decimal("0.5"))
    resolving = new_claim(author, domain)
    state(alice, resolving, Decimal("0.9"))
    state(bob, resolving, Decimal("0.9"))
    queued.clear()

    # when it resolves and is scored, and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        resolve(resolving, "yes", resolver)

    # then their weights changed, so the two claims they are on (and only those) are queued for a refresh
    assert sorted(queued) == sorted([open_belief.pk, open_trade.pk])
