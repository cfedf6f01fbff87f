"""An owner who is not a verified human, and their agents, weigh CREDENCE_UNVERIFIED_WEIGHT_FACTOR (a quarter) of
what their record earns in the consensus: such accounts are cheap to make many of. Their record is earned in full;
the consensus says which weights it cut (docs/architecture.md, "What verification unlocks")."""

import math
from decimal import Decimal

import pytest
from django.test import Client

from apps.accounts.models import User, VerificationLevel
from apps.reputation import maths
from apps.reputation.models import Reliability
from apps.reputation.selectors import consensus_compute
from tests import factories
from tests.factories import new_claim, state, track

pytestmark = pytest.mark.django_db


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_two_newcomers_with_the_same_record_weigh_one_to_a_quarter(author, domain, settings):
    # given a verified person and an unverified one, both new in the domain (a newcomer's record each)
    assert settings.CREDENCE_UNVERIFIED_WEIGHT_FACTOR == 0.25
    verified, unverified = factories.human(), factories.unverified_human()
    claim = new_claim(author, domain)
    state(verified, claim, Decimal("0.8"))
    state(unverified, claim, Decimal("0.3"))

    # when the consensus is computed
    view = consensus_compute(claim)

    # then both earned a newcomer's weight, and the unverified one counts at a quarter of it: shares 0.8 / 0.2
    rows = {c.identity.pk: (c.raw_weight, c.weight, c.verification, c.capped_unverified) for c in view.contributors}
    newcomer = maths.NEWCOMER_WEIGHT
    assert rows == {
        verified.pk: (pytest.approx(newcomer, rel=1e-12), pytest.approx(0.8, rel=1e-12), 1.0, False),
        unverified.pk: (pytest.approx(newcomer, rel=1e-12), pytest.approx(0.2, rel=1e-12), 0.25, True),
    }
    pooled = 0.8 * _logit(0.8) + 0.2 * _logit(0.3)
    assert view.pooled_logit == pytest.approx(pooled, rel=1e-12)
    assert view.probability == pytest.approx(maths.sigmoid(pooled), rel=1e-12)


def test_the_same_earned_record_counts_in_full_only_for_the_verified(author, domain, resolver):
    # given a verified and an unverified person who said the same on three resolved claims (too few to be
    # found copying each other): one record each, earned alike
    verified, unverified = factories.human(), factories.unverified_human()
    track({verified: Decimal("0.7"), unverified: Decimal("0.7")}, author, domain, resolver, outcome="yes", claims=3)
    earned = {r.identity_id: r.weight for r in Reliability.objects.filter(domain=domain)}
    assert earned[verified.pk] == earned[unverified.pk] > maths.NEWCOMER_WEIGHT  # scoring does not look at levels

    # when both state a belief on a new claim
    claim = new_claim(author, domain)
    state(verified, claim, Decimal("0.9"))
    state(unverified, claim, Decimal("0.2"))
    view = consensus_compute(claim)

    # then their raw weights are equal, and their shares are 1 : 1/4
    rows = {c.identity.pk: c for c in view.contributors}
    assert rows[verified.pk].raw_weight == pytest.approx(rows[unverified.pk].raw_weight, rel=1e-12)
    assert (rows[verified.pk].weight, rows[unverified.pk].weight) == (
        pytest.approx(0.8, rel=1e-12),
        pytest.approx(0.2, rel=1e-12),
    )
    assert view.copying_groups == 2


def test_an_unverified_owners_agents_are_cut_with_them_and_a_verified_owners_are_not(author, domain):
    # given the agent of an unverified owner and the agent of a verified one, newcomers both
    cut = factories.agent(factories.unverified_user(), handle="cheap-bot")
    full = factories.agent(factories.verified_user(), handle="known-bot")
    claim = new_claim(author, domain)
    state(cut, claim, Decimal("0.6"))
    state(full, claim, Decimal("0.4"))

    shares = {c.identity.pk: (c.weight, c.capped_unverified) for c in consensus_compute(claim).contributors}
    assert shares == {full.pk: (pytest.approx(0.8), False), cut.pk: (pytest.approx(0.2), True)}


def test_verifying_restores_the_full_weight_at_the_next_computation(author, domain):
    person, other = factories.unverified_human(), factories.human()
    claim = new_claim(author, domain)
    state(person, claim, Decimal("0.6"))
    state(other, claim, Decimal("0.4"))
    assert {c.identity.pk: c.weight for c in consensus_compute(claim).contributors}[person.pk] == pytest.approx(0.2)

    User.objects.filter(pk=person.user_id).update(verification_level=VerificationLevel.VERIFIED_HUMAN)

    view = consensus_compute(claim)
    assert {c.identity.pk: c.weight for c in view.contributors}[person.pk] == pytest.approx(0.5)
    assert not any(c.capped_unverified for c in view.contributors)


def test_a_factor_of_one_cuts_nothing(author, domain, settings):
    settings.CREDENCE_UNVERIFIED_WEIGHT_FACTOR = 1.0
    person, other = factories.unverified_human(), factories.human()
    claim = new_claim(author, domain)
    state(person, claim, Decimal("0.6"))
    state(other, claim, Decimal("0.4"))
    view = consensus_compute(claim)
    assert [c.weight for c in view.contributors] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert not any(c.capped_unverified for c in view.contributors)


def test_the_api_and_the_claim_page_say_which_weight_was_capped(author, domain):
    person, other = factories.unverified_human(), factories.human()
    claim = new_claim(author, domain)
    state(person, claim, Decimal("0.6"))
    state(other, claim, Decimal("0.4"))

    body = Client().get(f"/api/v1/claims/{claim.pk}/consensus").json()
    assert {c["handle"]: c["capped_unverified"] for c in body["top_contributors"]} == {
        person.handle: True,
        other.handle: False,
    }

    html = Client().get(f"/claims/{claim.pk}/").content.decode()
    assert html.count("weight capped: not a verified identity") == 1
    assert "counts at 25% of the weight its record earns, because such accounts are cheap to make many of." in html
