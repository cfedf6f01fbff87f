"""Replay reputation models on `reputation_simulate --dump` files, offline and exactly.

The consensus never feeds back into what the simulated sources forecast, so a finished run's forecasts,
outcomes and relative log scores can be replayed under another reliability model in seconds. This file
replays the pipeline of apps/reputation (calibration per owner, copies across owners, the owner cap,
extremizing) around a pluggable weight model, and prints each model's figures side by side: the
consensus's mean expected Brier, its paired difference from flat weights, the oracle, each domain's most
skilled source against the consensus on its claims, Spearman between hidden skill and the final weight,
an expert's weight at home over the median generalist's, and how far the replay is from the run's
stored consensus (5e-7 for `product` on a run of the product: the replay is exact).

    .venv/bin/python scripts/reputation_replay.py var/sim/experts/seed-*.json [--models product,flat,...]

Models (docs/reputation.md, "The approaches compared"): product (the model apps/reputation has), current
(the model before issue 16), flat, spread (Normal-inverse-gamma on relative log scores), agree2 (precision
from squared deviation from the others' pool), slope (the fit alone), slopeeiv (the pool's noise taken
out), hedge (multiplicative weights), ideal / idealcal / idealprec (told the hidden skills); --lam pools
as sum(w x) / (sum(w) - lambda (groups - 1)) with lambda fitted.
"""

import argparse
import json
import math
import os
import statistics
import sys

import django

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django.setup()  # no database is read: the simulation's measures import models, and query none here

from apps.reputation import maths  # noqa: E402
from apps.reputation.management.simulation.measures import spearman  # noqa: E402

WEIGHT_FLOOR = 0.002  # the model before issue 16: a newcomer's weight


def old_domain_posterior(domain, overall):
    """The model before issue 16: a domain's skill on a prior from the other domains (leave-one-domain-out)."""
    elsewhere = maths.global_posterior(overall.minus(domain))
    return maths._update(elsewhere.mean, maths.TAU_DOMAIN**2 + elsewhere.sd**2, domain)


def old_weight(posterior):
    floor = WEIGHT_FLOOR * math.exp(min(posterior.mean, 0.0) / maths.FLOOR_DECAY)
    return max(posterior.mean - posterior.sd, 0.0) + floor


class Current:
    """The model as it was before issue 16: (n, sum x, sum x^2) of relative log scores, fixed SIGMA_OBS,
    leave-one-domain-out prior, weight = max(mean - sd, 0) + floor. Reproduces the stored consensus."""

    name = "current"

    def __init__(self):
        self.stats = {}  # (identity, domain or None) -> maths.Stats

    def pair(self, identity, domain):
        return self.stats.get((identity, domain), maths.Stats()), self.stats.get((identity, None), maths.Stats())

    def weight_of(self, pair):
        return old_weight(old_domain_posterior(*pair))

    def weights(self, voices, domain):
        own = {v.identity_id: self.weight_of(self.pair(v.identity_id, domain)) for v in voices}
        pooled = {}
        for v in voices:
            mine, overall = self.pair(v.identity_id, domain)
            held = pooled.get(v.copying_group, (maths.Stats(), maths.Stats()))
            pooled[v.copying_group] = (held[0].plus(mine), held[1].plus(overall))
        combined = {g: self.weight_of(p) for g, p in pooled.items()}
        return own, combined

    def update(self, claim, voices, weights, alpha):
        for identity, x in claim["scores"].items():
            for key in ((identity, claim["domain"]), (identity, None)):
                self.stats[key] = self.stats.get(key, maths.Stats()).plus(maths.Stats(1, x, x * x))


class Flat(Current):
    """Every source weighs the same: the pipeline without reliability."""

    name = "flat"

    def weight_of(self, pair):
        return 1.0


class Spread(Current):
    """The relative log score's spread learned per source (Normal-inverse-gamma, shrunk toward SIGMA_OBS
    with NU0 pseudo-observations), a domain prior that is zero skill (not the source's record elsewhere),
    weight = max(mean - sd, 0) + floor."""

    name = "spread"
    NU0, TAU = 8.0, 0.10

    def posterior(self, st):
        n = st.n
        if n == 0:
            return 0.0, self.TAU
        mean_x = st.total / n
        ss = max(st.total_sq - n * mean_x * mean_x, 0.0)
        var = (self.NU0 * maths.SIGMA_OBS**2 + ss) / (self.NU0 + n)
        precision = 1 / self.TAU**2 + n / var
        mean = (st.total / var) / precision
        return mean, math.sqrt(1 / precision)

    def weight_of(self, pair):
        mean, sd = self.posterior(pair[0])
        floor = WEIGHT_FLOOR * math.exp(min(mean, 0.0) / maths.FLOOR_DECAY)
        return max(mean - sd, 0.0) + floor


class Agree(Current):
    """Precision from agreement: each settled forecast's recalibrated log-odds against the extremized pool
    of the other copying groups at close; a gamma posterior on its precision per (identity, domain); the
    weight is the posterior mean precision, faded for a losing record (relative log score) as the floor is."""

    name = "agree"
    A0, B0 = 1.0, 9.0  # prior: precision a0/b0 = 1/9 (a newcomer reads as noise sd 3), worth 2*a0 forecasts

    def __init__(self):
        super().__init__()
        self.dev = {}  # (identity, domain) -> (m, sum D^2)

    def w(self, ids, domain):
        """The weight of one source holding the records of `ids` (one of them, or a copying group's)."""
        m = sum(self.dev.get((i, domain), (0, 0.0))[0] for i in ids)
        s = sum(self.dev.get((i, domain), (0, 0.0))[1] for i in ids)
        return (self.A0 + m / 2) / max(self.B0 + s / 2, self.B0 / 4)

    def guard(self, pair):
        mean = old_domain_posterior(*pair).mean
        return math.exp(min(mean, 0.0) / maths.FLOOR_DECAY)

    def weights(self, voices, domain):
        own = {
            v.identity_id: self.w([v.identity_id], domain) * self.guard(self.pair(v.identity_id, domain))
            for v in voices
        }
        groups = {}
        for v in voices:
            groups.setdefault(v.copying_group, []).append(v.identity_id)
        combined = {}
        for g, ids in groups.items():
            pair = (maths.Stats(), maths.Stats())
            for i in ids:
                a, b = self.pair(i, domain)
                pair = (pair[0].plus(a), pair[1].plus(b))
            combined[g] = self.w(ids, domain) * self.guard(pair)
        return own, combined

    def update(self, claim, voices, weights, alpha):
        super().update(claim, voices, weights, alpha)
        d = claim["domain"]
        for v in voices:
            ref = maths.pool_references(voices, weights, alpha).get(v.identity_id)
            if ref is not None:
                m, s = self.dev.get((v.identity_id, d), (0, 0.0))
                self.dev[(v.identity_id, d)] = (m + 1, s + (v.log_odds - ref) ** 2)


class Agree2(Agree):
    name = "agree2"
    A0, B0 = 0.5, 2.0


class Slope(Agree):
    """Regression of a source's log-odds on the others' extremized pool: slope b over residual variance v
    is the weight that pools measurements k * (truth + noise) best (1 / (k sigma^2))."""

    name = "slope"
    K0, B0_SLOPE, N0, V0 = 4.0, 0.5, 2.0, 2.0  # prior: slope 0.5 worth 4 units of z^2; variance 2 worth 2

    def __init__(self):
        super().__init__()
        self.reg = {}  # (identity, domain) -> (n, zz, rz, rr)

    def w(self, key_list, domain):
        n = zz = rz = rr = 0.0
        for i in key_list:
            a = self.reg.get((i, domain), (0, 0.0, 0.0, 0.0))
            n, zz, rz, rr = n + a[0], zz + a[1], rz + a[2], rr + a[3]
        b = (rz + self.B0_SLOPE * self.K0) / (zz + self.K0)
        resid = rr - 2 * b * rz + b * b * zz
        v = (self.V0 * self.N0 + max(resid, 0.0)) / (self.N0 + n)
        return max(b, 0.0) / v

    def update(self, claim, voices, weights, alpha):
        Current.update(self, claim, voices, weights, alpha)
        d = claim["domain"]
        references = maths.pool_references(voices, weights, alpha)
        for v in voices:
            if v.identity_id in references:
                z, r = references[v.identity_id], v.log_odds
                n, zz, rz, rr = self.reg.get((v.identity_id, d), (0, 0.0, 0.0, 0.0))
                self.reg[(v.identity_id, d)] = (n + 1, zz + z * z, rz + r * z, rr + r * r)


class SlopeEIV(Slope):
    """Slope over residual variance, with the reference's own noise taken out (errors in variables)."""

    name = "slopeeiv"

    def __init__(self):
        super().__init__()
        self.noise = {}  # (identity, domain) -> sum of the reference's noise variance

    def fit(self, key_list, domain):
        n = zz = rz = rr = vv = 0.0
        for i in key_list:
            a = self.reg.get((i, domain), (0, 0.0, 0.0, 0.0))
            n, zz, rz, rr = n + a[0], zz + a[1], rz + a[2], rr + a[3]
            vv += self.noise.get((i, domain), 0.0)
        zz_true = max(zz - vv, 0.5 * zz)
        b = (rz + self.B0_SLOPE * self.K0) / (zz_true + self.K0)
        resid = rr - 2 * b * rz + b * b * zz_true
        v = (self.V0 * self.N0 + max(resid, 0.0)) / (self.N0 + n)
        return b, v

    def w(self, key_list, domain):
        b, v = self.fit(key_list, domain)
        return max(b, 0.0) / v

    def update(self, claim, voices, weights, alpha):
        d = claim["domain"]
        fits = {v.identity_id: self.fit([v.identity_id], d) for v in voices}
        mass = sum(weights[v.identity_id] for v in voices)
        noise = sum(weights[v.identity_id] ** 2 * fits[v.identity_id][1] for v in voices)
        by_group = {}
        for v in voices:
            t, w, q = by_group.get(v.copying_group, (0.0, 0.0, 0.0))
            by_group[v.copying_group] = (
                t + weights[v.identity_id] * v.log_odds,
                w + weights[v.identity_id],
                q + weights[v.identity_id] ** 2 * fits[v.identity_id][1],
            )
        for v in voices:
            t, w, q = by_group[v.copying_group]
            if mass - w <= 0:
                continue
            self.noise[(v.identity_id, d)] = (
                self.noise.get((v.identity_id, d), 0.0) + alpha**2 * (noise - q) / (mass - w) ** 2
            )
        super().update(claim, voices, weights, alpha)


class Product(Current):
    """The model as apps/reputation has it now: each (source, domain) record's fit against the others'
    pool (maths.Record), faded by a losing record, its ln(weight) shrunk toward its domain's population
    (maths.Population), updated at each settlement as services.claim_score does."""

    name = "product"

    def __init__(self):
        self.records = {}  # (identity, domain) -> maths.Record
        self.populations = {}  # domain -> maths.Population

    def weights(self, voices, domain):
        population = self.populations.get(domain, maths.Population())
        own = {
            v.identity_id: population.shrunk(self.records.get((v.identity_id, domain), maths.Record())) for v in voices
        }
        pooled = {}
        for v in voices:
            r = self.records.get((v.identity_id, domain), maths.Record())
            pooled[v.copying_group] = pooled.get(v.copying_group, maths.Record()).plus(r)
        return own, {g: population.shrunk(r) for g, r in pooled.items()}

    def update(self, claim, voices, weights, alpha):
        d = claim["domain"]
        total = sum(weights.values())
        shares = {k: w / total for k, w in weights.items()} if total > 0 else weights
        refs = maths.pool_references(voices, shares, alpha)
        read = {v.identity_id: v.log_odds for v in voices}
        population = self.populations.get(d, maths.Population())
        for identity, x in claim["scores"].items():
            r = self.records.get((identity, d), maths.Record())
            fit = maths.Fit.of(read[identity], refs[identity]) if identity in refs else maths.Fit()
            new = r.plus(maths.Record(maths.Stats(1, x, x * x), fit))
            population = population.minus(maths.Population.member(r)).plus(maths.Population.member(new))
            self.records[(identity, d)] = new
        self.populations[d] = population


class Hedge(Current):
    """Multiplicative weights fitted online on the pooled log loss: each settled forecast moves its
    (identity, domain) log-weight by ETA * alpha * (outcome - pooled p) * (its log-odds - the others' pool)."""

    name = "hedge"
    ETA, U0, UMAX = 0.3, 0.0, 4.0

    def __init__(self):
        super().__init__()
        self.u = {}

    def weights(self, voices, domain):
        own = {v.identity_id: math.exp(self.u.get((v.identity_id, domain), self.U0)) for v in voices}
        groups = {}
        for v in voices:
            groups.setdefault(v.copying_group, []).append(own[v.identity_id])
        return own, {g: max(ws) for g, ws in groups.items()}

    def update(self, claim, voices, weights, alpha):
        super().update(claim, voices, weights, alpha)
        d = claim["domain"]
        y = 1.0 if claim["outcome"] else 0.0
        total = sum(weights[v.identity_id] * v.log_odds for v in voices)
        mass = sum(weights[v.identity_id] for v in voices)
        p = maths.sigmoid(alpha * total / mass) if mass > 0 else 0.5
        for v in voices:
            key = (v.identity_id, d)
            u = self.u.get(key, self.U0) + self.ETA * alpha * (y - p) * (v.log_odds - total / mass)
            self.u[key] = max(-self.UMAX, min(self.UMAX, u))


class Ideal(Current):
    """Told the hidden skills (not reachable): weight 1 / (scale * sigma^2) on a voice's log-odds, a liar 0:
    the ceiling of this pipeline's weights."""

    name = "ideal"
    sources = {}

    def weights(self, voices, domain):
        own = {}
        for v in voices:
            s = self.sources[v.identity_id]
            own[v.identity_id] = (
                0.0 if s["lies"] else 1 / (v.calibration * s["scale"][domain] * s["sigma"][domain] ** 2)
            )
        groups = {}
        for v in voices:
            groups.setdefault(v.copying_group, []).append(own[v.identity_id])
        return own, {g: max(ws) for g, ws in groups.items()}


class IdealCal(Ideal):
    """Ideal weights and the ideal calibration factor (calibrated_scale(sigma) / scale)."""

    name = "idealcal"
    ideal_calibration = True


class IdealPrec(IdealCal):
    """Ideal calibration, weight 1/sigma^2 + 1/T^2: a source's posterior precision about the claim alone."""

    name = "idealprec"

    def weights(self, voices, domain):
        own = {}
        for v in voices:
            s = self.sources[v.identity_id]
            own[v.identity_id] = 0.0 if s["lies"] or s["jitter"] else 1 / s["sigma"][domain] ** 2 + 1 / 1.5**2
        groups = {}
        for v in voices:
            groups.setdefault(v.copying_group, []).append(own[v.identity_id])
        return own, {g: max(ws) for g, ws in groups.items()}


MODELS = {
    m.name: m
    for m in (
        Product,
        Current,
        Flat,
        Spread,
        Agree,
        Agree2,
        Slope,
        SlopeEIV,
        Hedge,
        Ideal,
        IdealCal,
        IdealPrec,
    )
}


def ideal_factor(source, d):
    sigma = source["sigma"][d]
    shrink = 1.5**2 / (1.5**2 + sigma**2)
    variance = 1.5**2 * sigma**2 / (1.5**2 + sigma**2)
    return shrink / math.sqrt(1 + math.pi * variance / 8) / source["scale"][d]


LAMBDA_POOL = False
LAMBDAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.44)


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    for c in data["claims"]:
        c["forecasts"] = {int(k): v for k, v in c["forecasts"].items()}
        c["scores"] = {int(k): v for k, v in c["scores"].items()}
    return data


def replay(data, model):
    """The run's claims in order under `model`: each claim's consensus at close, then its settlement."""
    owner_of, source_of = {}, {}
    Ideal.sources = source_of
    for n, s in enumerate(data["sources"]):
        for identity in s["identities"]:
            owner_of[identity] = n
            source_of[identity] = s
    calibration = {}  # (owner, domain or None) -> likelihoods
    watched = {}  # (owner a, owner b) -> (claims, agreed)
    history = []  # (pooled logit, outcome) of claims with two or more voices
    alpha, lam, masses = 1.0, 0.0, []
    out = []
    weight_trace = []  # (claim index, identity, domain, n at home, weight) at each forecast
    home_n = {}
    for claim in data["claims"]:
        d = claim["domain"]
        owners = sorted({owner_of[i] for i in claim["forecasts"]})
        copy_pairs = [pair for pair, (n, agreed) in watched.items() if maths.copies(n, agreed)]
        group_of = maths.copying_groups(owners, copy_pairs)
        factors = {
            o: maths.calibration_factor(calibration.get((o, d), ()), calibration.get((o, None), ())) for o in owners
        }
        voices = [
            maths.Voice(i, group_of[owner_of[i]], 0.0, p, factors[owner_of[i]])
            for i, p in sorted(claim["forecasts"].items())
        ]
        if getattr(model, "ideal_calibration", False):
            voices = [
                maths.Voice(
                    v.identity_id, v.copying_group, 0.0, v.probability, ideal_factor(source_of[v.identity_id], d)
                )
                for v in voices
            ]
        own, combined = model.weights(voices, d)
        voices = [
            maths.Voice(v.identity_id, v.copying_group, own[v.identity_id], v.probability, v.calibration)
            for v in voices
        ]
        weights = maths.effective_weights(voices, combined)
        pooled = maths.pooled_logit(voices, weights)
        mass = sum(weights.values())
        ngroups = len({v.copying_group for v in voices if weights[v.identity_id] > 0})
        if LAMBDA_POOL and pooled is not None:
            pooled = pooled * mass / max(mass - lam * (ngroups - 1), 0.05 * mass)
        consensus = 0.5 if pooled is None else maths.sigmoid(alpha * pooled)
        out.append((claim, consensus, weights, voices))
        for v in voices:
            weight_trace.append((claim["index"], v.identity_id, d, home_n.get((v.identity_id, d), 0), v.weight))
        # settlement
        outcome = claim["outcome"]
        model.update(claim, voices, weights, alpha)
        for i in claim["scores"]:
            home_n[(i, d)] = home_n.get((i, d), 0) + 1
        found = {}
        for i, p in claim["forecasts"].items():
            found.setdefault(owner_of[i], []).append(maths.calibration_loglik(p, outcome))
        for o, records in found.items():
            one = maths.loglik_mean(records)
            for key in ((o, d), (o, None)):
                calibration[key] = maths.loglik_plus(calibration.get(key, ()), one)
        comparison = maths.compare(maths.owner_logits([(owner_of[i], p) for i, p in claim["forecasts"].items()]))
        mine = {
            pair: rec for pair, rec in watched.items() if pair[0] in comparison.logits and pair[1] in comparison.logits
        }
        folded, forgotten = maths.agreements_fold(mine, comparison)
        watched.update(folded)
        for pair in forgotten:
            watched.pop(pair, None)
        if pooled is not None and len(voices) >= 2:
            raw = pooled * max(mass - lam * (ngroups - 1), 0.05 * mass) / mass if LAMBDA_POOL else pooled
            history.append((raw, outcome))
            masses.append((mass, ngroups))
        if LAMBDA_POOL:
            best = None
            for candidate in LAMBDAS:
                rows = [
                    (x * m / max(m - candidate * (g - 1), 0.05 * m), y)
                    for (x, y), (m, g) in zip(history, masses, strict=True)
                ]
                a = maths.fit_extremizing(rows)
                loss = maths.log_loss(rows, a)
                if best is None or loss < best[0]:
                    best = (loss, a, candidate)
            alpha, lam = best[1], best[2]
        else:
            alpha = maths.fit_extremizing(history)
    return out, weight_trace, alpha


def expected_brier(rows):
    return sum((p - c["truth"]) ** 2 + c["truth"] * (1 - c["truth"]) for p, c in rows) / len(rows)


def measures(data, model_name):
    model = MODELS[model_name]()
    out, trace, alpha = replay(data, model)
    warm = data["warmup"]
    tested = [(consensus, claim) for claim, consensus, _w, _v in out if claim["index"] >= warm]
    result = {"consensus": [((p - c["truth"]) ** 2 + c["truth"] * (1 - c["truth"])) for p, c in tested]}
    result["brier"] = expected_brier(tested)
    result["stored_gap"] = max(abs(p - c["consensus"]) for p, c in tested)
    result["oracle"] = expected_brier([(c["oracle"], c) for _p, c in tested])
    result["market"] = expected_brier([(c["market"], c) for _p, c in tested])
    result["mean"] = expected_brier([(c["mean"], c) for _p, c in tested])
    # each domain's most skilled individual, on its own tested claims
    singles = [s for s in data["sources"] if len(s["identities"]) == 1]
    per_domain = []
    for d in range(len(data["domains"])):
        best = max(singles, key=lambda s: s["hidden"][d])["identities"][0]
        per_domain += [(c["forecasts"][best], p, c) for p, c in tested if c["domain"] == d and best in c["forecasts"]]
    result["expert"] = expected_brier([(e, c) for e, _p, c in per_domain]) if per_domain else None
    result["expert_consensus"] = expected_brier([(p, c) for _e, p, c in per_domain]) if per_domain else None
    # Spearman hidden skill vs weight at the end, (source, domain) pairs with >= 10 forecasts (first identity)
    final = {}
    counts = {}
    for _index, identity, d, n, w in trace:
        final[(identity, d)] = w
        counts[(identity, d)] = n
    hidden, learned = [], []
    for s in data["sources"]:
        first = s["identities"][0]
        for d in range(len(data["domains"])):
            if counts.get((first, d), 0) >= 10:
                hidden.append(s["hidden"][d])
                learned.append(final[(first, d)])
    result["spearman"] = spearman(hidden, learned)
    # expert vs generalist at home within 40 forecasts there: the expert's weight when its 40th home
    # forecast is made (or its last) over the median generalist weight in that domain at that claim
    roles = {i: s["role"] for s in data["sources"] for i in s["identities"]}
    ratios = []
    for s in data["sources"]:
        if s["role"] not in ("expert", "specialist"):
            continue
        first = s["identities"][0]
        home = min(range(len(s["sigma"])), key=lambda d: s["sigma"][d])
        mine = [(i, n, w) for i, ident, d, n, w in trace if ident == first and d == home and n <= 40]
        if not mine:
            continue
        at, _n, w = mine[-1]
        last = {}
        for i, ident, d, _n2, w2 in trace:
            if i <= at and d == home and roles[ident] == "generalist":
                last[ident] = w2
        if last and statistics.median(last.values()) > 0:
            ratios.append(w / statistics.median(last.values()))
    result["ratios"] = ratios
    result["alpha"] = alpha
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dumps", nargs="+")
    parser.add_argument("--models", default="current,flat")
    parser.add_argument("--lam", action="store_true", help="pool as sum(w x) / (lambda + sum(w)), lambda fitted")
    args = parser.parse_args()
    global LAMBDA_POOL
    LAMBDA_POOL = args.lam
    names = args.models.split(",")
    datas = [load(p) for p in args.dumps]
    per = {name: [measures(d, name) for d in datas] for name in names}
    header = f"{'model':24} {'E[Brier]':>9} {'vs flat':>18} {'oracle':>8} {'expert':>17} {'spearman':>9}"
    print(header + f" {'ratio@40 (median, min)':>22}")
    for name in names:
        rs = per[name]
        brier = statistics.mean(r["brier"] for r in rs)
        line = f"{name:24} {brier:9.4f}"
        if "flat" in per:
            diffs = [
                a - b
                for r, f in zip(rs, per["flat"], strict=True)
                for a, b in zip(r["consensus"], f["consensus"], strict=True)
            ]
            m = statistics.mean(diffs)
            se = statistics.stdev(diffs) / math.sqrt(len(diffs))
            line += f" {m:+.4f}±{se:.4f}"
        line += f" {statistics.mean(r['oracle'] for r in rs):8.4f}"
        ex = [r for r in rs if r["expert"] is not None]
        if ex:
            expert = statistics.mean(r["expert"] for r in ex)
            line += f" {expert:.4f}/{statistics.mean(r['expert_consensus'] for r in ex):.4f}"
        sp = [r["spearman"] for r in rs if r["spearman"] is not None]
        line += f" {statistics.mean(sp):9.3f}" if sp else " " * 10
        ratios = [x for r in rs for x in r["ratios"]]
        if ratios:
            line += f"   {statistics.median(ratios):6.2f} {min(ratios):6.2f}"
        line += f"   gap-to-stored {max(r['stored_gap'] for r in rs):.1e}"
        print(line)
    r0 = per[names[0]]
    print(f"market {statistics.mean(r['market'] for r in r0):.4f}  mean {statistics.mean(r['mean'] for r in r0):.4f}")


if __name__ == "__main__":
    main()
