"""The reputation simulation (apps/reputation/management/simulation/, manage.py reputation_simulate): a small seeded run
through the real services, the structure of its report, and the sybil property on that small scale."""

import json
import math
import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import User
from apps.core.amounts import CREDIT
from apps.identities.models import Identity, IdentityKind
from apps.ledger.models import Entry
from apps.ledger.selectors import ledger_verify_report
from apps.markets.models import Claim, ClaimStatus
from apps.reputation import maths
from apps.reputation.management import simulation
from apps.reputation.models import ClaimRecord, Score
from apps.reputation.selectors import consensus_compute

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def small_population():
    return simulation.population(sources=14, domains=2, rng=random.Random(5))


def test_spearman_is_pearson_on_average_ranks():
    assert simulation.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert simulation.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share their average rank: ranks x = 1.5, 1.5, 3, 4 against y = 1, 2, 3, 4
    assert simulation.spearman([5, 5, 6, 7], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)
    assert simulation.spearman([1, 1, 1], [1, 2, 3]) is None  # no spread: undefined
    assert simulation.spearman([1, 2], [1, 2]) is None


def test_the_population_has_every_role_and_the_requested_size(small_population):
    people = small_population
    roles = {s.role for s in people}
    assert roles == {"specialist", "generalist", "overconfident", "noise", "swarm", "twin"}
    assert sum(s.members for s in people) == 14
    swarm = next(s for s in people if s.role == "swarm")
    twin = next(s for s in people if s.role == "twin")
    assert (swarm.kind, swarm.members, twin.kind, twin.members) == ("agent", 3, "human", 1)
    assert twin.mirrors == swarm.key  # one identity with the swarm's beliefs on the swarm's claims
    for s in people:
        if s.role == "specialist":
            assert min(s.sigma) <= 0.6 < 1.5 <= sorted(s.sigma)[1]  # sharp in one domain, poor in the other


def test_the_same_seed_gives_the_same_population():
    one = simulation.population(sources=20, domains=3, rng=random.Random(9))
    two = simulation.population(sources=20, domains=3, rng=random.Random(9))
    assert [(s.key, s.role, s.sigma, s.scale, s.participation) for s in one] == [
        (s.key, s.role, s.sigma, s.scale, s.participation) for s in two
    ]


def test_hidden_skill_orders_the_sources_as_their_noise_does(small_population):
    simulation.expected_log_scores(small_population, seed=5)
    calibrated = [s for s in small_population if s.role == "generalist"]
    pairs = [(sigma, hidden) for s in calibrated for sigma, hidden in zip(s.sigma, s.hidden, strict=True)]
    pairs.sort()
    assert [h for _, h in pairs] == sorted((h for _, h in pairs), reverse=True)  # less noise, better score
    noise = next(s for s in small_population if s.role == "noise")
    assert max(noise.hidden) < min(h for _, h in pairs)
    assert all(-math.log(2) - 0.2 < h < 0 for h in noise.hidden + [h for _, h in pairs])


def test_the_oracle_is_the_prior_without_reports_and_follows_a_sharp_one():
    assert simulation.oracle([]) == 0.5
    sharp = simulation.oracle([(0.9, 0.1, 1.0)])  # an almost noiseless signal of logit(0.9)
    assert sharp == pytest.approx(0.9, abs=0.01)


@pytest.fixture
def small_run():
    return simulation.simulate(claims=16, sources=12, domains=2, seed=7, tag="simtest")


def test_a_small_run_resolves_every_claim_through_the_services_and_reports_on_the_later_half(small_run):
    report = small_run

    claims = Claim.objects.filter(title__startswith="[simtest] ")
    assert claims.count() == 16
    assert set(claims.values_list("status", flat=True)) <= {ClaimStatus.RESOLVED_YES, ClaimStatus.RESOLVED_NO}
    assert not claims.filter(settled_at__isnull=True).exists()
    assert ClaimRecord.objects.filter(claim__in=claims).count() == 16
    assert Score.objects.filter(claim__in=claims).exists()
    assert ledger_verify_report().ok
    agents = Identity.objects.filter(handle__startswith="simtest-", kind=IdentityKind.AGENT)
    assert agents.filter(owner__isnull=False).count() == agents.count() > 0

    assert (report.tag, report.seed, report.claims, report.sources, report.warmup) == ("simtest", 7, 16, 12, 8)
    assert report.domains == ["science", "technology"]
    for scored in (report.market, report.consensus, report.mean, report.equal_pool, report.oracle):
        assert scored.n == 8
        assert 0 <= scored.brier <= 1
        assert scored.log_score <= 0
        assert 0 <= scored.expected_brier <= 1
    tested = [r for r in report.results if r.index >= 8]
    assert report.consensus.expected_brier == pytest.approx(
        sum((r.consensus - r.truth) ** 2 + r.truth * (1 - r.truth) for r in tested) / 8
    )
    assert report.best.min_forecasts == report.best_after.min_forecasts == 10
    # one source per domain: in each domain the individual with the highest hidden skill there
    assert report.best_per_domain.min_forecasts == 0 and report.best_per_domain.label
    for value in (report.spearman_skill, report.spearman_weight, *report.spearman_by_domain.values()):
        assert value is None or -1 <= value <= 1
    assert sum(report.roles.values()) == 12
    assert set(report.targets) == {
        "consensus beats the market price",
        "consensus beats the unweighted mean",
        "consensus beats the best single source (on its claims)",
        "a swarm moves the consensus no more than its best single member",
        "a swarm moves the consensus no more than its lone twin (on average)",
        "a copy under a second owner adds nothing to what it copies",
    }
    assert len(report.stricter) == 4


def test_scored_takes_the_brier_score_against_the_outcome_and_its_mean_against_the_truth():
    yes = simulation.ClaimResult(0, 1, 0, 0.8, True, 0.5, 0.5, 0.5, 0.5, 0.5, {}, 0)
    no = simulation.ClaimResult(1, 2, 0, 0.8, False, 0.5, 0.5, 0.5, 0.5, 0.5, {}, 0)
    score = simulation.scored([(0.7, yes), (0.7, no)])
    assert score.brier == pytest.approx((0.3**2 + 0.7**2) / 2)
    assert score.log_score == pytest.approx((math.log(0.7) + math.log(0.3)) / 2)
    # (0.7 - 0.8)^2 + 0.8 * 0.2 on each claim, whatever its outcome
    assert score.expected_brier == pytest.approx(0.01 + 0.16)
    assert simulation.scored([]) == simulation.Scored(0, None, None, None)


def test_each_twin_acts_just_before_its_swarms_first_agent(small_population):
    swarm = next(s for s in small_population if s.role == "swarm")
    twin = next(s for s in small_population if s.role == "twin")
    other = next(s for s in small_population if s.role == "generalist")
    acts = [(other, 1, "a"), (swarm, 2, "s"), (other, 3, "b"), (twin, 4, "s"), (swarm, 5, "s")]
    assert [a[1] for a in simulation._twins_beside_their_swarms(acts)] == [1, 4, 2, 3, 5]


def test_a_twin_is_scored_against_the_price_its_swarm_is_scored_against(small_run):
    swarm = {i.pk for i in Identity.objects.filter(handle__startswith="simtest-s1-")}
    twin = Identity.objects.get(handle="simtest-t1")
    compared = 0
    for score in Score.objects.filter(identity=twin):
        theirs = Score.objects.filter(claim=score.claim, identity_id__in=swarm)
        assert theirs.count() == len(swarm)
        for mine in theirs:
            assert (mine.market_price, mine.probability) == (score.market_price, score.probability)
            assert mine.relative_log_score == pytest.approx(score.relative_log_score)
        compared += 1
    assert compared > 0


def test_a_swarm_moves_the_consensus_no_more_than_its_best_single_member(small_run):
    checks = small_run.sybil

    assert checks  # the swarm forecast some of the tested claims
    for check in checks:
        assert check.members == 3
        assert check.shift <= check.one_member + 1e-12
        assert check.uncapped >= check.shift - 1e-12  # the cap only ever holds the swarm back
        assert check.twin is not None and check.twin_weight is not None  # the twin forecast it too
    assert small_run.sybil_excess <= 1e-9
    assert small_run.targets["a swarm moves the consensus no more than its best single member"]


def test_a_twin_beside_its_swarm_is_found_as_a_copy_and_adds_nothing(small_run):
    # the twin states the swarm's belief on every claim the swarm forecasts: the one pair of owners found
    assert (small_run.twins, small_run.copy_pairs_true, len(small_run.copy_pairs)) == (1, 1, 1)
    ((first, second, claims, agreed),) = small_run.copy_pairs
    assert {first, second} == {"simtest-s1-1", "simtest-t1"}
    assert claims == agreed > maths.COPY_MARGIN
    paired = [c for c in small_run.sybil if c.together is not None]
    assert paired
    for check in paired:
        assert check.together <= max(check.shift, check.twin) + 1e-12
    assert small_run.copy_excess <= 1e-9
    assert small_run.targets["a copy under a second owner adds nothing to what it copies"]


def test_the_command_prints_the_report():
    out = StringIO()

    call_command(
        "reputation_simulate",
        "--claims",
        "6",
        "--sources",
        "10",
        "--domains",
        "1",
        "--seed",
        "2",
        "--quiet",
        stdout=out,
    )

    text = out.getvalue()
    assert text.startswith("Simulation sim2: population today, seed 2, 6 claims in 1 domains (science), 10 sources")
    for line in (
        "market price at close",
        "consensus at close",
        "unweighted mean of the latest beliefs",
        "best single source",
        "Reliability vs hidden skill, Spearman",
        "Calibration vs the ideal factor",
        "Sybil swarms",
        "Copies across owners: ",
        "Targets (expected Brier): consensus beats the market price: ",
        "Also measured: consensus beats each domain's most skilled source",
    ):
        assert line in text
    assert Claim.objects.filter(title__startswith="[sim2] ").count() == 6


def test_a_second_run_gets_its_own_tag_and_a_taken_tag_is_refused():
    simulation.simulate(claims=4, sources=10, domains=1, seed=3, tag="again")
    assert simulation.free_tag("again") == "again-2"

    with pytest.raises(CommandError, match="already ran"):
        call_command("reputation_simulate", "--claims", "4", "--sources", "10", "--tag", "again", "--quiet")


def _claim(index: int, truth: float, outcome: bool, **forecasts: float) -> dict:
    """One claim of a --dump file, as simulation.dump writes it."""
    rest = {"claim_id": index + 1, "domain": 0, "forecasts": {}, "contributors": 0, "scores": {}}
    return {"index": index, "truth": truth, "outcome": outcome, **forecasts, **rest}


def test_runs_are_pooled_claim_by_claim_with_paired_differences(tmp_path):
    # given two runs' dumps, each with one warm-up claim (left out) and tested claims
    says = {"market": 0.5, "mean": 0.6, "equal_pool": 0.6, "oracle": 0.8}
    first = {
        "seed": 4,
        "warmup": 1,
        "claims": [
            _claim(0, 0.5, True, consensus=0.01, **says),
            _claim(1, 0.8, True, consensus=0.7, **says),
            _claim(2, 0.8, False, consensus=0.7, **says),
        ],
    }
    second = {
        "seed": 2,
        "warmup": 1,
        "claims": [_claim(0, 0.5, True, consensus=0.5, **says), _claim(1, 0.2, False, consensus=0.4, **says)],
    }
    paths = []
    for n, data in enumerate((first, second)):
        paths.append(tmp_path / f"run-{n}.json")
        paths[-1].write_text(json.dumps(data))

    # when they are pooled through the command
    out = StringIO()
    call_command("reputation_simulate", "--pool", *map(str, paths), stdout=out)
    lines = out.getvalue().splitlines()

    # then three tested claims are scored together, the runs in seed order
    assert lines[0] == "Pooled over 2 runs (seeds 2, 4): 3 tested claims."
    consensus = next(line for line in lines if line.startswith("consensus at close"))
    brier = (0.3**2 + 0.7**2 + 0.4**2) / 3
    expected = ((0.1**2 + 0.16) * 2 + (0.2**2 + 0.16)) / 3
    log = (math.log(0.7) + math.log(0.3) + math.log(0.6)) / 3
    assert consensus.split()[-3:] == [f"{expected:.4f}", f"{brier:.4f}", f"{log:.4f}"]
    # and the consensus minus the market, claim by claim: 0.09 - 0.25, 0.49 - 0.25, 0.16 - 0.25
    differences = [0.09 - 0.25, 0.49 - 0.25, 0.16 - 0.25]
    centre = sum(differences) / 3
    error = math.sqrt(sum((d - centre) ** 2 for d in differences) / 2 / 3)
    market = next(line for line in lines if line.startswith("  market price at close"))
    # better in expectation in both runs; against the outcomes drawn in the second only
    assert market.endswith(f"{centre:+.4f} +- {error:.4f}   better in 2 / 1 of 2 runs")


def test_pooling_refuses_a_file_that_is_not_a_dump(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CommandError, match=r"broken\.json: not a --dump file"):
        call_command("reputation_simulate", "--pool", str(broken), stdout=StringIO())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"seed": 1, "claims": [{"index": 3}]}))
    with pytest.raises(CommandError, match="Not --dump files: a run or claim lacks 'warmup'"):
        call_command("reputation_simulate", "--pool", str(other), stdout=StringIO())


# --- the populations of issue 16: skill that differs, and skill that does not --------------------------


def test_the_experts_population_has_sharp_experts_in_every_domain_among_the_others():
    people = simulation.population(sources=60, domains=4, rng=random.Random(3), kind="experts")
    by_role: dict[str, list] = {}
    for s in people:
        by_role.setdefault(s.role, []).append(s)
    counts = {role: sum(s.members for s in sources) for role, sources in by_role.items()}
    assert counts == {
        "expert": 8,
        "generalist": 24,
        "overconfident": 6,
        "manipulator": 4,
        "copier": 3,
        "herder": 2,
        "noise": 3,
        "swarm": 8,
        "twin": 2,
    }
    simulation.expected_log_scores(people, seed=3)
    for d in range(4):
        experts = [s for s in by_role["expert"] if min(range(4), key=lambda k: s.sigma[k]) == d]
        assert len(experts) == 2  # two per domain, each sharp at home only
        for expert in experts:
            assert 0.2 <= expert.sigma[d] <= 0.4 and min(s for k, s in enumerate(expert.sigma) if k != d) >= 1.0
            assert expert.participation >= 0.5
            assert expert.hidden[d] > max(g.hidden[d] for g in by_role["generalist"])
    spreads = [s for g in by_role["generalist"] for s in g.sigma]
    assert min(spreads) >= 0.6 and max(spreads) <= 2.4 and max(spreads) / min(spreads) > 3
    assert all(1.6 <= s.scale[0] <= 2.4 for s in by_role["overconfident"])
    assert {s.lies for s in by_role["manipulator"]} == {0.3}
    experts = {s.key: s for s in by_role["expert"]}
    originals = [experts[c.mirrors] for c in by_role["copier"]]
    assert len({min(range(4), key=lambda k: e.sigma[k]) for e in originals}) == 3  # experts of three domains
    assert {c.jitter for c in by_role["copier"]} == {0.03}
    assert {h.mirrors for h in by_role["herder"]} == {"market"}


def test_the_alike_population_is_one_skill_everywhere():
    people = simulation.population(sources=20, domains=3, rng=random.Random(1), kind="alike")
    assert {(s.role, tuple(s.sigma)) for s in people} == {("generalist", (1.0, 1.0, 1.0))}
    assert len(people) == 20


def test_an_unknown_population_is_refused():
    with pytest.raises(ValueError, match="Unknown population 'zoo'"):
        simulation.population(sources=20, domains=2, rng=random.Random(1), kind="zoo")
    with pytest.raises(CommandError):
        call_command("reputation_simulate", "--population", "zoo", "--quiet")


def test_a_manipulator_lies_on_some_claims_and_reports_honestly_on_the_others():
    liar = simulation.Source("m1", "manipulator", "human", [1.0], [0.5], "state", 1.0, (5, 10), lies=0.3)
    rng = random.Random(4)
    said = [simulation.report(liar, 0, 2.0, rng) for _ in range(2000)]
    honest, lie = maths.sigmoid(0.5 * 2.0), maths.sigmoid(-1.5 * 0.5 * 2.0)
    assert set(said) == {honest, lie}
    assert 0.27 < said.count(lie) / len(said) < 0.33
    plain = simulation.Source("g1", "generalist", "human", [1.0], [0.5], "state", 1.0, (5, 10))
    before = rng.getstate()
    assert simulation.report(plain, 0, 2.0, rng) == honest
    assert rng.getstate() == before  # an honest source draws nothing: other populations' streams are unchanged


def test_an_experts_run_herds_copies_and_measures_the_flat_consensus():
    report = simulation.simulate(claims=12, sources=40, domains=2, seed=5, kind="experts", tag="experts")
    source_of = {i.pk: s for s in report.people for i in s.identities}
    copied = 0
    # a herder states the market price at its turn, give or take its jitter, and never trades
    herders = [s.identities[0] for s in report.people if s.role == "herder"]
    herded = Score.objects.filter(identity__in=herders)
    assert herded.exists() and set(herded.values_list("source", flat=True)) == {"belief"}
    for score in herded:
        assert abs(maths.logit(float(score.probability)) - maths.logit(float(score.market_price))) < 6 * 0.03
    for result in report.results:
        for identity_id, p in result.forecasts.items():
            source = source_of[identity_id]
            if source.role == "copier" and source.mirrors:
                original = next(s for s in report.people if s.key == source.mirrors).identities[0].pk
                if original in result.forecasts:
                    copied += 1
                    assert abs(maths.logit(p) - maths.logit(result.forecasts[original])) < 6 * 0.03
        assert 0 < result.flat < 1
        assert set(result.weights) == set(result.forecasts)
    assert copied > 0
    assert Score.objects.filter(identity__handle__startswith="experts-", read_logit__isnull=False).exists()
    assert report.population == "experts"


# --- unverified accounts: the swarms as cheap accounts, their weight cut ---------------------------------------


def test_an_unverified_run_makes_the_swarm_cheap_accounts_and_measures_the_cap(settings):
    # given the default limits: two agents per unverified owner, 100 credits each, a quarter of the weight
    assert (settings.CREDENCE_UNVERIFIED_MAX_AGENTS, settings.CREDENCE_UNVERIFIED_WEIGHT_FACTOR) == (2, 0.25)

    # when a small run's swarm is unverified
    report = simulation.simulate(claims=12, sources=12, domains=2, seed=7, tag="simunv", unverified=True)

    # then its three agents are spread over two owners who are not verified humans, each funded 100 credits;
    # every other person of the run is a verified human
    swarm = next(s for s in report.people if s.role == "swarm")
    assert (swarm.verified, len(swarm.identities)) == (False, 3)
    owners = User.objects.filter(pk__in={i.owner_id for i in swarm.identities})
    assert sorted(owners.values_list("email", "verification_level")) == [
        ("simunv-owner-s1-2@sim.example.com", "email_verified"),
        ("simunv-owner-s1@sim.example.com", "email_verified"),
    ]
    assert [Identity.objects.filter(owner=owner).count() for owner in owners.order_by("pk")] == [2, 1]
    others = User.objects.filter(email__startswith="simunv-").exclude(pk__in=owners)
    assert set(others.values_list("verification_level", flat=True)) == {"verified_human"}
    funded = Entry.objects.filter(transfer__kind="simulation_funding", account__identity__in=swarm.identities)
    assert sorted(funded.values_list("amount", flat=True)) == [100 * CREDIT] * 3

    # and each tested claim measured the consensus counting everyone in full beside the one with the cap,
    # and the swarm's shift both ways: the cap only ever holds the swarm back
    tested = [r for r in report.results if r.index >= report.warmup]
    assert all(r.uncut is not None for r in tested) and report.uncut.n == len(tested) == 6
    assert report.sybil
    for check in report.sybil:
        assert check.uncut is not None and check.uncut >= check.shift - 1e-12
    assert report.unverified_factor == 0.25

    # and the consensus explains the swarm's voices as capped, at a quarter of their weight
    claim = Claim.objects.get(pk=report.sybil[0].claim_id)
    view = consensus_compute(claim, before=claim.closes_at)
    members = {i.pk for i in swarm.identities}
    assert {c.identity.pk: c.verification for c in view.contributors if c.identity.pk in members}
    assert all(c.capped_unverified == (c.identity.pk in members) for c in view.contributors)
    assert {c.verification for c in view.contributors} == {0.25, 1.0}


def test_the_command_reports_the_unverified_accounts():
    out = StringIO()
    call_command(
        "reputation_simulate",
        *("--claims", "6", "--sources", "10", "--domains", "1", "--seed", "2", "--unverified", "--quiet"),
        stdout=out,
    )
    text = out.getvalue()
    assert "Unverified accounts: the swarms' owners are not verified humans (2 owners, at most 2 agents each" in text
    assert "their voices count at 0.25 of their weight" in text
    for line in ("  consensus at close, with the cap", "  the same consensus counting them in full"):
        assert line in text
