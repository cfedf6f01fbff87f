"""The report of a run: what it read back from the database at the end, the figures printed by
manage.py reputation_simulate, the --dump file, and several dumps pooled."""

import math
import statistics
from dataclasses import asdict, dataclass, field

from django.conf import settings

from apps.reputation import maths
from apps.reputation.management.simulation.measures import ClaimResult, Scored, SybilCheck, scored, spearman
from apps.reputation.management.simulation.world import Source, calibrated_scale
from apps.reputation.models import Agreement, Calibration, ExtremizingFit, Reliability

MIN_FORECASTS_FOR_SPEARMAN = 5  # (source, domain) pairs with fewer resolved forecasts are left out


@dataclass
class Report:
    tag: str
    seed: int
    claims: int
    sources: int
    domains: list[str]
    warmup: int
    seconds: float
    market: Scored
    consensus: Scored
    mean: Scored
    equal_pool: Scored
    oracle: Scored
    best: "Best"  # the best single source: the lowest expected Brier on the tested claims
    best_after: "Best"  # the lowest Brier against the outcomes drawn on the tested claims: the luckiest
    best_before: "Best"  # the lowest Brier on the warm-up claims, then scored on the tested ones
    best_per_domain: "Best"  # per domain, the source with the highest hidden skill there
    spearman_skill: float | None
    spearman_weight: float | None
    spearman_pairs: int
    spearman_by_domain: dict[str, float | None]
    sybil: list[SybilCheck]
    alpha: float
    alpha_claims: int
    roles: dict[str, int]
    calibration_pairs: int = 0  # (owner, domain) pairs with enough resolved claims to compare
    calibration_error: float | None = None  # median |ln(learned factor / ideal factor)| over them
    calibration_error_without: float | None = None  # the same for a factor of 1 (no calibration)
    copy_pairs: list[tuple[str, str, int, int]] = field(default_factory=list)  # owner pairs counted as one
    copy_pairs_true: int = 0  # of those, a swarm's owner and its twin
    twins: int = 0  # twins in the population: the copies there were to find
    population: str = "today"  # which of world.POPULATIONS
    people: list[Source] = field(default_factory=list)
    results: list[ClaimResult] = field(default_factory=list)
    unverified: bool = False  # the swarms were unverified accounts (simulate(unverified=True))
    uncut: Scored | None = None  # then: the consensus with every voice counted in full, on the tested claims
    unverified_factor: float = 1.0  # the weight factor of the unverified during the run

    @property
    def sybil_excess(self) -> float:
        """How much further any swarm moved the consensus than its best single member would: <= 0 wanted."""
        return max((c.shift - c.one_member for c in self.sybil), default=0.0)

    @property
    def targets(self) -> dict[str, bool]:
        """The issue's targets, Brier scores taken as expected against the true probabilities."""
        b = self.consensus.expected_brier
        return {
            "consensus beats the market price": b is not None and b < self.market.expected_brier,
            "consensus beats the unweighted mean": b is not None and b < self.mean.expected_brier,
            "consensus beats the best single source (on its claims)": self.best.beaten,
            "a swarm moves the consensus no more than its best single member": self.sybil_excess <= 1e-9,
            "a swarm moves the consensus no more than its lone twin (on average)": self.swarm_vs_twin <= 1e-9,
            "a copy under a second owner adds nothing to what it copies": self.copy_excess <= 1e-9,
        }

    @property
    def stricter(self) -> dict[str, bool]:
        """Comparisons beyond the targets, reported beside them."""
        b = self.consensus.brier
        return {
            "consensus beats each domain's most skilled source (on their claims)": self.best_per_domain.beaten,
            "consensus beats the market price, against the outcomes drawn": b is not None and b < self.market.brier,
            "consensus beats the unweighted mean, against the outcomes drawn": b is not None and b < self.mean.brier,
            "consensus beats the source chosen on the warm-up claims (on its claims)": self.best_before.beaten,
        }

    @property
    def copy_excess(self) -> float:
        """How much further a swarm and its twin together moved the consensus than the further of the two
        alone: what a copy under a second owner adds (<= 0 wanted)."""
        paired = [c for c in self.sybil if c.together is not None]
        return max((c.together - max(c.shift, c.twin) for c in paired), default=0.0)

    @property
    def swarm_vs_twin(self) -> float:
        """Mean shift of the consensus by the swarms minus that by their lone twins, on the claims both
        forecast (<= 0 wanted): a swarm should weigh no more than one source with the same beliefs."""
        paired = [c for c in self.sybil if c.twin is not None]
        return sum(c.shift - c.twin for c in paired) / len(paired) if paired else 0.0


@dataclass(frozen=True)
class Best:
    """A single source, scored on the tested claims it forecast, beside the consensus, the market and the
    oracle on those same claims."""

    label: str | None
    min_forecasts: int
    source: Scored
    consensus: Scored
    market: Scored
    oracle: Scored

    @property
    def beaten(self) -> bool:
        """The consensus's expected Brier is lower on the same claims (true when no source qualified)."""
        return self.source.n == 0 or self.consensus.expected_brier < self.source.expected_brier


def _forecasts_by_source(results: list[ClaimResult]) -> dict[int, list[ClaimResult]]:
    found: dict[int, list[ClaimResult]] = {}
    for r in results:
        for identity_id in r.forecasts:
            found.setdefault(identity_id, []).append(r)
    return found


def _scored_on(rows: list[tuple[ClaimResult, int]], label: str | None, min_forecasts: int) -> Best:
    return Best(
        label=label,
        min_forecasts=min_forecasts,
        source=scored([(r.forecasts[pk], r) for r, pk in rows]),
        consensus=scored([(r.consensus, r) for r, _ in rows]),
        market=scored([(r.market, r) for r, _ in rows]),
        oracle=scored([(r.oracle, r) for r, _ in rows]),
    )


def _best(tested: list[ClaimResult], *, chosen_on: list[ClaimResult], label_of: dict[int, str], expected: bool) -> Best:
    """The single source with the lowest Brier on `chosen_on` (expected: against the true probabilities,
    else against the outcomes drawn), among those with enough forecasts there: a quarter of those claims
    (at least 10), so that a streak on a handful of claims does not win. Scored on the tested claims."""
    min_n = max(10, len(chosen_on) // 4)
    best_id, best_brier = None, None
    for identity_id, mine in sorted(_forecasts_by_source(chosen_on).items()):
        if len(mine) >= min_n:
            score = scored([(r.forecasts[identity_id], r) for r in mine])
            brier = score.expected_brier if expected else score.brier
            if best_brier is None or brier < best_brier:
                best_id, best_brier = identity_id, brier
    mine = _forecasts_by_source(tested).get(best_id, []) if best_id is not None else []
    return _scored_on([(r, best_id) for r in mine], label_of.get(best_id), min_n)


def _best_per_domain(tested: list[ClaimResult], people: list, label_of: dict[int, str], domains: int) -> Best:
    """Not one source but one per domain: in each domain, the source with the highest hidden skill there
    (a specialist, nearly as good as the oracle in its own domain), scored on the tested claims of that
    domain it forecast; the domains' claims pooled. A stricter comparison than any single source."""
    chosen = {}
    for d in range(domains):
        individuals = [s for s in people if len(s.identities) == 1]
        chosen[d] = max(individuals, key=lambda s: s.hidden[d]).identities[0].pk
    mine = [(r, chosen[r.domain]) for r in tested if chosen[r.domain] in r.forecasts]
    return _scored_on(mine, ", @".join(sorted({label_of[pk] for pk in chosen.values()})), 0)


def report_of(
    *, tag, seed, people, names, run_domains, results, warm, checks, seconds, population="today", unverified=False
) -> Report:
    tested = [r for r in results if r.index >= warm]
    rows = {
        "market": [(r.market, r) for r in tested],
        "consensus": [(r.consensus, r) for r in tested],
        "mean": [(r.mean, r) for r in tested],
        "equal_pool": [(r.equal_pool, r) for r in tested],
        "oracle": [(r.oracle, r) for r in tested],
    }
    label_of = {i.pk: i.handle for s in people for i in s.identities}
    warmed = [r for r in results if r.index < warm]
    best = _best(tested, chosen_on=tested, label_of=label_of, expected=True)
    best_after = _best(tested, chosen_on=tested, label_of=label_of, expected=False)
    best_before = _best(tested, chosen_on=warmed, label_of=label_of, expected=False)
    best_per_domain = _best_per_domain(tested, people, label_of, len(run_domains))

    # Hidden skill vs learned reliability, over (source, domain) pairs (a swarm counts once: its first agent).
    reliability = {
        (r.identity_id, r.domain_id): r
        for r in Reliability.objects.filter(identity_id__in=[s.identities[0].pk for s in people], domain__isnull=False)
    }
    pairs: list[tuple[int, float, float, float]] = []
    for source in people:
        for d, domain in enumerate(run_domains):
            row = reliability.get((source.identities[0].pk, domain.pk))
            if row is not None and row.n >= MIN_FORECASTS_FOR_SPEARMAN:
                pairs.append((d, source.hidden[d], row.skill_mean, row.weight))
    by_domain = {}
    for d, name in enumerate(names):
        mine_d = [p for p in pairs if p[0] == d]
        by_domain[name] = spearman([p[1] for p in mine_d], [p[2] for p in mine_d])
    # Learned calibration vs the ideal factor, calibrated_scale(sigma) / scale, over (owner, domain) pairs.
    owner_of = {id(s): s.identities[0].controller_id for s in people}
    calibrations = {
        (r.owner_id, r.domain_id): r
        for r in Calibration.objects.filter(owner_id__in=set(owner_of.values()), domain__isnull=False)
    }
    learned_error, no_error = [], []
    for source in people:
        for d, domain in enumerate(run_domains):
            row = calibrations.get((owner_of[id(source)], domain.pk))
            if row is not None and row.claims >= MIN_FORECASTS_FOR_SPEARMAN:
                ideal = calibrated_scale(source.sigma[d]) / source.scale[d]
                learned_error.append(abs(math.log(row.factor / ideal)))
                no_error.append(abs(math.log(ideal)))
    # Copies found: owner pairs counted as one source at the end, and which of them are a swarm and its twin.
    source_of_owner = {owner_of[id(s)]: s for s in people}
    copy_pairs, copy_true = [], 0
    found = Agreement.objects.filter(copies=True, owner_a_id__in=source_of_owner, owner_b_id__in=source_of_owner)
    for a, b, n, agreed in found.order_by("owner_a_id", "owner_b_id").values_list(
        "owner_a_id", "owner_b_id", "claims", "agreed"
    ):
        first, second = source_of_owner[a], source_of_owner[b]
        copy_pairs.append((first.label, second.label, n, agreed))
        copy_true += first.mirrors == second.key or second.mirrors == first.key
    fit = ExtremizingFit.objects.order_by("-id").first()
    roles: dict[str, int] = {}
    for source in people:
        roles[source.role] = roles.get(source.role, 0) + len(source.identities)
    return Report(
        tag=tag,
        seed=seed,
        claims=len(results),
        sources=sum(len(s.identities) for s in people),
        domains=names,
        warmup=warm,
        seconds=seconds,
        market=scored(rows["market"]),
        consensus=scored(rows["consensus"]),
        mean=scored(rows["mean"]),
        equal_pool=scored(rows["equal_pool"]),
        oracle=scored(rows["oracle"]),
        best=best,
        best_after=best_after,
        best_before=best_before,
        best_per_domain=best_per_domain,
        spearman_skill=spearman([p[1] for p in pairs], [p[2] for p in pairs]),
        spearman_weight=spearman([p[1] for p in pairs], [p[3] for p in pairs]),
        spearman_pairs=len(pairs),
        spearman_by_domain=by_domain,
        sybil=checks,
        alpha=fit.alpha if fit else 1.0,
        alpha_claims=fit.claims if fit else 0,
        roles=roles,
        calibration_pairs=len(learned_error),
        calibration_error=statistics.median(learned_error) if learned_error else None,
        calibration_error_without=statistics.median(no_error) if no_error else None,
        copy_pairs=copy_pairs,
        copy_pairs_true=copy_true,
        twins=sum(1 for s in people if s.mirrors not in (None, "market")),
        people=people,
        results=results,
        population=population,
        unverified=unverified,
        uncut=scored([(r.uncut, r) for r in tested if r.uncut is not None]) if unverified else None,
        unverified_factor=settings.CREDENCE_UNVERIFIED_WEIGHT_FACTOR if unverified else 1.0,
    )


def dump(report: Report) -> dict:
    """Everything a run produced that offline analysis needs, as plain JSON-ready data: each source (its
    role, hidden noise and skill per domain, its identities) and each claim (its truth, outcome, every
    forecast at close and every relative log score). The consensus does not feed back into what anyone
    forecasts, so a model variant can be replayed on these exactly."""
    return {
        "tag": report.tag,
        "seed": report.seed,
        "domains": report.domains,
        "warmup": report.warmup,
        "population": report.population,
        "unverified": report.unverified,
        "unverified_factor": report.unverified_factor,
        "sources": [
            {
                "key": s.key,
                "role": s.role,
                "kind": s.kind,
                "sigma": s.sigma,
                "scale": s.scale,
                "hidden": s.hidden,
                "mirrors": s.mirrors,
                "jitter": s.jitter,
                "lies": s.lies,
                "verified": s.verified,
                "identities": [i.pk for i in s.identities],
            }
            for s in report.people
        ],
        "claims": [asdict(r) for r in report.results],
    }


FORECASTERS = (
    ("market", "market price at close"),
    ("consensus", "consensus at close"),
    ("mean", "unweighted mean of the latest beliefs"),
    ("equal_pool", "equal-weight log-odds pool"),
    ("oracle", "oracle told the hidden skills (Bayes)"),
    ("flat", "the same consensus with flat weights"),
)
MIN_FORECASTS_FOR_RANKS = 10  # (source, domain) pairs in the pooled rank correlation
EXPERT_WINDOW = 40  # an expert's weight at home is read when its record there reaches this many forecasts


def pooled_lines(dumps: list[dict]) -> list[str]:
    """Several runs' dumps (`--dump`) read together: each forecaster's scores over all their tested claims;
    the consensus's Brier minus each other's, paired by claim (the outcomes drawn are the same for both, so
    most of their noise cancels: +-0.002 over sixteen runs, where one run's outcomes move a Brier score by
    +-0.01), with its standard error; and in how many runs the consensus beats each, in expectation and
    against the outcomes drawn."""
    runs = []
    for data in sorted(dumps, key=lambda d: d["seed"]):
        tested = [ClaimResult(**c) for c in data["claims"] if c["index"] >= data["warmup"]]
        if tested:
            runs.append((data["seed"], tested))
    claims = [c for _seed, tested in runs for c in tested]
    if not claims:
        return ["No tested claims in these runs."]
    # runs dumped before the flat consensus was measured have none: leave it out rather than read 0.5
    forecasters = [
        (n, label) for n, label in FORECASTERS if n != "flat" or all("flat" in c for d in dumps for c in d["claims"])
    ]

    def of(name: str, results: list[ClaimResult]) -> Scored:
        return scored([(getattr(r, name), r) for r in results])

    seeds = ", ".join(str(seed) for seed, _tested in runs)
    lines = [
        f"Pooled over {len(runs)} runs (seeds {seeds}): {len(claims)} tested claims.",
        "",
        f"{'':44} expected   Brier  log score",
    ]
    for name, label in forecasters:
        pooled = of(name, claims)
        lines.append(f"{label:44} {pooled.expected_brier:8.4f} {pooled.brier:7.4f} {pooled.log_score:10.4f}")
    lines += ["", "Consensus minus each, paired by claim (mean +- standard error): expected Brier, Brier against the"]
    lines.append(
        "outcomes drawn, and the runs in which the consensus is better (in expectation / against the outcomes):"
    )
    for name, label in forecasters:
        if name == "consensus":
            continue
        expected = _paired([_expected(c.consensus, c) - _expected(getattr(c, name), c) for c in claims])
        drawn = _paired(
            [maths.brier(c.consensus, c.outcome) - maths.brier(getattr(c, name), c.outcome) for c in claims]
        )
        ahead = sum(of("consensus", t).expected_brier < of(name, t).expected_brier for _s, t in runs)
        luckier = sum(of("consensus", t).brier < of(name, t).brier for _s, t in runs)
        lines.append(
            f"  {label:42} {expected[0]:+.4f} +- {expected[1]:.4f}  {drawn[0]:+.4f} +- {drawn[1]:.4f}   "
            f"better in {ahead} / {luckier} of {len(runs)} runs"
        )
    return lines + learning_lines(dumps)


def _expected(p: float, claim: ClaimResult) -> float:
    return (p - claim.truth) ** 2 + claim.truth * (1 - claim.truth)


def _paired(differences: list[float]) -> tuple[float, float]:
    centre = sum(differences) / len(differences)
    if len(differences) < 2:
        return centre, 0.0
    return centre, math.sqrt(sum((d - centre) ** 2 for d in differences) / (len(differences) - 1) / len(differences))


def learning_lines(dumps: list[dict]) -> list[str]:
    """What the weights learned, from the runs' dumps (the weights each contributor had at close):
    each domain's most skilled single source against the consensus on its own tested claims; Spearman's
    rank correlation between hidden skill and the weight at the end over (source, domain) pairs with
    MIN_FORECASTS_FOR_RANKS resolved forecasts or more; each expert's weight at home, read when its record
    there reaches EXPERT_WINDOW forecasts (or at its last forecast, if fewer), over the median generalist's
    weight in that domain at that claim; and where the manipulators ended, against a newcomer's weight."""
    if not all("weights" in c for d in dumps for c in d["claims"]):
        return []
    expert_rows, ranks, ratios, manipulators = [], [], [], []
    for data in dumps:
        sources = data["sources"]
        role_of = {i: s["role"] for s in sources for i in s["identities"]}
        singles = [s for s in sources if len(s["identities"]) == 1]
        domains = len(data["domains"])
        best = {d: max(singles, key=lambda s: s["hidden"][d])["identities"][0] for d in range(domains)}
        seen: dict[tuple[int, int], int] = {}  # (identity, domain) -> resolved forecasts so far
        last: dict[tuple[int, int], float] = {}
        at_window: dict[tuple[int, int], int] = {}  # claim index at which the window was reached (or last)
        history: list[tuple[int, int, dict[str, float]]] = []  # (index, domain, weights at close)
        for c in data["claims"]:
            d, weights = c["domain"], {int(k): v for k, v in c["weights"].items()}
            history.append((c["index"], d, weights))
            for identity, weight in weights.items():
                key = (identity, d)
                last[key] = weight
                if seen.get(key, 0) <= EXPERT_WINDOW:
                    at_window[key] = c["index"]
            for identity in c["scores"]:
                seen[(int(identity), d)] = seen.get((int(identity), d), 0) + 1
            forecasts = {int(k): v for k, v in c["forecasts"].items()}
            if c["index"] >= data["warmup"] and best[d] in forecasts:
                expert_rows.append((forecasts[best[d]], c["consensus"], c["truth"]))
        for s in sources:
            first = s["identities"][0]
            for d in range(domains):
                if seen.get((first, d), 0) >= MIN_FORECASTS_FOR_RANKS and (first, d) in last:
                    ranks.append((s["hidden"][d], last[(first, d)]))
            if s.get("lies"):
                manipulators.extend(last[(first, d)] for d in range(domains) if (first, d) in last)
            if s["role"] in ("expert", "specialist"):
                home = min(range(domains), key=lambda d: s["sigma"][d])
                index = at_window.get((first, home))
                if index is None:
                    continue
                weights = next(w for i, dd, w in history if i == index)
                generalists = {}
                for i, dd, w in history:
                    if i <= index and dd == home:
                        generalists.update({k: v for k, v in w.items() if role_of.get(k) == "generalist"})
                typical = statistics.median(generalists.values()) if generalists else 0.0
                if typical > 0:
                    ratios.append(weights[first] / typical)
    lines = ["", "What the weights learned:"]
    if expert_rows:
        source = sum((e - t) ** 2 + t * (1 - t) for e, _c, t in expert_rows) / len(expert_rows)
        consensus = sum((c - t) ** 2 + t * (1 - t) for _e, c, t in expert_rows) / len(expert_rows)
        lines.append(
            f"  each domain's most skilled source on its tested claims: {source:.4f} expected Brier, the consensus "
            f"{consensus:.4f} on the same {len(expert_rows)} claims"
        )
    rho = spearman([h for h, _w in ranks], [w for _h, w in ranks])
    lines.append(
        f"  Spearman between hidden skill and the weight at the end, {len(ranks)} (source, domain) pairs with >= "
        f"{MIN_FORECASTS_FOR_RANKS} resolved forecasts: {_fmt(rho, 3)}"
    )
    if ratios:
        lines.append(
            f"  an expert's weight at home over the median generalist's there, within {EXPERT_WINDOW} forecasts at "
            f"home: median {statistics.median(ratios):.2f}, lowest {min(ratios):.2f}, over {len(ratios)} experts"
        )
    if manipulators:
        lines.append(
            f"  manipulators' weights at the end: highest {max(manipulators):.4f}, median "
            f"{statistics.median(manipulators):.4f} (a newcomer weighs {maths.NEWCOMER_WEIGHT})"
        )
    return lines


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report_lines(report: Report) -> list[str]:
    """The report as printed by manage.py reputation_simulate."""
    tested = report.claims - report.warmup
    roles = ", ".join(f"{n} {role}" for role, n in report.roles.items())
    lines = [
        f"Simulation {report.tag}: population {report.population}, seed {report.seed}, {report.claims} claims in "
        f"{len(report.domains)} domains ({', '.join(report.domains)}), {report.sources} sources ({roles}); "
        f"{report.seconds:.0f} s.",
        f"Out of sample: claims {report.warmup + 1}-{report.claims} ({tested}), each scored at close with the "
        "reliability learned from the claims resolved before it.",
        "",
        "Expected Brier: against each claim's true probability t, (p - t)^2 + t(1 - t), the Brier score's mean",
        "over the outcomes the claim could have had; Brier and log score: against the outcomes drawn.",
        "",
        f"{'':44}{'expected':>9}{'Brier':>8}{'log score':>11}{'claims':>8}",
    ]

    def row(name: str, s: Scored) -> str:
        return f"{name:44}{_fmt(s.expected_brier):>9}{_fmt(s.brier):>8}{_fmt(s.log_score):>11}{s.n:>8}"

    lines += [
        row("market price at close", report.market),
        row("consensus at close", report.consensus),
        row("unweighted mean of the latest beliefs", report.mean),
        row("equal-weight log-odds pool", report.equal_pool),
        row("oracle told the hidden skills (Bayes)", report.oracle),
    ]
    for best, name, how in (
        (report.best, "best single source", "the lowest expected Brier on these claims"),
        (report.best_after, "luckiest single source", "the lowest Brier against the outcomes drawn on these claims"),
        (report.best_before, "best single source ahead", "the lowest Brier on the warm-up claims"),
        (report.best_per_domain, "each domain's most skilled", "per domain, the highest hidden skill there"),
    ):
        among = f", among sources with >= {best.min_forecasts} forecasts there" if best.min_forecasts else ""
        lines += [
            row(name, best.source),
            f"  @{best.label}: {how}{among}",
            row("  consensus on the same claims", best.consensus),
            row("  market price on the same claims", best.market),
            row("  oracle on the same claims", best.oracle),
        ]
    lines += [
        "",
        f"Reliability vs hidden skill, Spearman over {report.spearman_pairs} (source, domain) pairs with "
        f">= {MIN_FORECASTS_FOR_SPEARMAN} resolved forecasts:",
        f"  learned skill_mean {_fmt(report.spearman_skill, 3)}, weight {_fmt(report.spearman_weight, 3)}; "
        "skill_mean by domain: "
        + ", ".join(f"{name} {_fmt(value, 3)}" for name, value in report.spearman_by_domain.items()),
        f"Calibration vs the ideal factor (calibrated_scale(sigma) / scale), over {report.calibration_pairs} "
        f"(owner, domain) pairs with >= {MIN_FORECASTS_FOR_SPEARMAN} resolved claims: median |ln(learned / ideal)| "
        f"{_fmt(report.calibration_error, 3)}, against {_fmt(report.calibration_error_without, 3)} with no calibration",
        "",
        "Sybil swarms (agents sharing one belief), on the out-of-sample claims they forecast:",
    ]
    swarms = sorted({c.swarm for c in report.sybil})
    owners = {s.label: len({i.controller_id for i in s.identities}) for s in report.people if s.role == "swarm"}

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    for swarm in swarms:
        mine = [c for c in report.sybil if c.swarm == swarm]
        paired = [c for c in mine if c.twin is not None]
        of = "one owner" if owners.get(swarm, 1) == 1 else f"{owners[swarm]} owners"
        lines += [
            f"  @{swarm} and its fellow agents ({max(c.members for c in mine)} of {of}), on {len(mine)} claims:",
            f"    shift of the consensus by the swarm: max {_fmt(max(c.shift for c in mine))}, "
            f"mean {_fmt(mean([c.shift for c in mine]))}; by its best single member alone: max "
            f"{_fmt(max(c.one_member for c in mine))}; without the owner cap it would be: max "
            f"{_fmt(max(c.uncapped for c in mine))}",
            f"    against its twin alone (same beliefs, one identity of another owner), on {len(paired)} claims: "
            f"mean shift {_fmt(mean([c.shift for c in paired]))} vs {_fmt(mean([c.twin for c in paired]))}, "
            f"mean weight {_fmt(mean([c.weight for c in paired]), 5)} vs "
            f"{_fmt(mean([c.twin_weight for c in paired]), 5)}; the swarm and its twin together: mean shift "
            f"{_fmt(mean([c.together for c in paired]))}",
        ]
    if not swarms:
        lines.append("  (no swarm forecast an out-of-sample claim)")
    lines.append(f"  largest excess of a swarm over its best single member: {report.sybil_excess:.2e}")
    if report.unverified:
        cut = report.sybil
        lines += [
            "",
            f"Unverified accounts: the swarms' owners are not verified humans ({sum(owners.values())} owners, at "
            f"most {settings.CREDENCE_UNVERIFIED_MAX_AGENTS} agents each, each agent funded up to "
            f"{settings.CREDENCE_UNVERIFIED_AGENT_FUNDING_LIMIT_CREDITS} credits); their voices count at "
            f"{report.unverified_factor:g} of their weight. On the same records at each close:",
            f"  the swarms' shift of the consensus on {len(cut)} claims: mean {_fmt(mean([c.shift for c in cut]))}, "
            f"max {_fmt(max((c.shift for c in cut), default=None))} with the cap; counted in full: mean "
            f"{_fmt(mean([c.uncut for c in cut]))}, max {_fmt(max((c.uncut for c in cut), default=None))}",
            row("  consensus at close, with the cap", report.consensus),
            row("  the same consensus counting them in full", report.uncut or Scored(0, None, None, None)),
        ]
    lines += [
        "",
        f"Copies across owners: {len(report.copy_pairs)} owner pairs counted as one source, "
        f"{report.copy_pairs_true} of them a copy and what it copies (a twin and its swarm, a copier and its expert; "
        f"of {report.twins} copies); "
        f"largest excess of a swarm and its twin together over the further of the two alone: "
        f"{report.copy_excess:.2e}",
        *(f"  @{a} and @{b}: agreed on {agreed} of {n} claims" for a, b, n, agreed in report.copy_pairs),
        "",
        f"Extremizing factor fitted: {report.alpha} on {report.alpha_claims} resolved claims.",
        "Targets (expected Brier): "
        + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in report.targets.items()),
        "Also measured: " + "; ".join(f"{name}: {'yes' if ok else 'no'}" for name, ok in report.stricter.items()),
    ]
    return lines
