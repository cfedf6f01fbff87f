"""The event catalogue (apps/core/events.py) is the one list of event kinds: every emitter names a kind by
its constant, every event the flows write is in it with the payload it documents, and docs/architecture.md
shows it as it is."""

import ast
from pathlib import Path

import pytest

from apps.agents.services import run_execute
from apps.billing import services as billing
from apps.billing.models import CreditPackage
from apps.billing.verification import verification_request_review
from apps.core.events import CATALOGUE, CATALOGUE_VERSION, catalogue_markdown
from apps.core.models import Event
from apps.identities.services import agent_suspend, agent_update, api_key_revoke, identity_reactivate
from apps.markets.resolution import claim_void, resolution_challenge
from apps.markets.services import claim_clarify, claim_moderate_edit
from apps.markets.settlement import market_settle
from apps.realtime.services import notifications_mark_all_read
from apps.reviews.models import ReviewRequest
from apps.reviews.services import review_decide, review_resume, review_take_next
from tests import factories
from tests.factories import buy, close, new_claim, resolve, state

ROOT = Path(__file__).resolve().parents[2]


def _string_literals(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_emitter_spells_a_kind_itself():
    # A kind written as a string (in a call, or quoted inside SQL) could drift from the catalogue unseen.
    spelt = []
    for path in (ROOT / "apps").rglob("*.py"):
        if "migrations" in path.parts or path.name == "events.py":
            continue
        for line, value in _string_literals(path):
            if value in CATALOGUE or any(f"'{name}'" in value for name in CATALOGUE):
                spelt.append(f"{path.relative_to(ROOT)}:{line}: {value[:60]}")
    assert spelt == []


def test_architecture_md_lists_the_catalogue_as_it_is():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert f"### The event catalogue (version {CATALOGUE_VERSION})" in doc
    assert catalogue_markdown() in doc


@pytest.mark.django_db
def test_every_event_the_flows_write_is_catalogued_with_the_payload_it_documents():
    # given every flow that writes an event: identities and keys, a claim through trades, beliefs, a
    # clarification, a challenged proposal (its panel review) and a moderator's void (which withdraws and
    # resumes the review), a dispute a panel answers, another claim through settlement and scoring,
    # and a person reading their notifications
    owner = factories.verified_user()
    bot = factories.agent(owner, handle="catalogue-bot")
    api_key_revoke(key=factories.api_key_row(bot), by=owner)
    agent_suspend(owner=owner, agent=bot, reason="Pausing.")
    identity_reactivate(identity=bot, moderator=factories.moderator(), reason="Restored")
    agent_update(owner=owner, agent=bot, display_name="Catalogue")
    author = factories.human()
    domain = factories.domain()

    disputed = new_claim(author, domain)
    claim_moderate_edit(
        claim=disputed,
        moderator=factories.moderator(),
        title="Will the registered replication succeed?",
        criteria="Resolves YES if the registered replication reports success.",
        reason="The title overstated the question.",
    )
    claim_clarify(claim=disputed, actor=author, text="Preregistered replications only.")
    trader = factories.human()
    buy(trader, disputed, "yes", credits=3, key="c-1")
    state(factories.human(), disputed, "0.7")
    close(disputed)
    factories.propose(disputed, "yes", factories.human(), evidence="The record says so.")
    resolution_challenge(claim=disputed, challenger=factories.human(), evidence="It does not.")  # a panel's review
    claim_void(claim=disputed, user=factories.moderator(), reason="Ambiguous criteria.")  # withdraws it
    review_resume(request_id=ReviewRequest.objects.get(subject=f"claim:{disputed.pk}").pk)
    market_settle(claim=disputed)

    answered = new_claim(author, domain)  # a dispute a panel answers (it stands after the overrule window)
    close(answered)
    factories.propose(answered, "no", factories.human(), evidence="The record says so.")
    panel = [factories.verified_human() for _ in range(3)]
    resolution_challenge(claim=answered, challenger=factories.human(), evidence="It does not.")
    for person in panel[:2]:  # two alike are the majority
        assignment = review_take_next(reviewer=person)
        review_decide(assignment_id=assignment.pk, reviewer=person, kind="answer", value="no")
    review_resume(request_id=ReviewRequest.objects.get(subject=f"claim:{answered.pk}").pk)

    settled = new_claim(author, domain)
    buy(trader, settled, "no", credits=2, key="c-2")
    resolve(settled, "no", factories.human())
    notifications_mark_all_read(user=trader.user)
    hosted = factories.hosted()  # a hosted agent's run ends
    run_execute(run_id=factories.manual_run(hosted).pk)
    # a purchase credited (as Stripe's paid session reports it) and a verification asked of a reviewer
    purchase = billing._purchase_open(user=trader.user, package_id=CreditPackage.objects.first().pk, key="p-1")
    billing.purchase_fulfil(
        session={"id": "cs_1", "metadata": {"purchase": str(purchase.pk)}, "payment_status": "paid",
                 "status": "complete", "amount_total": purchase.amount, "currency": purchase.currency}
    )  # fmt: skip
    verification_request_review(
        user=factories.unverified_user(), statement="A person, with a public profile.", links=[], idempotency_key="v"
    )

    # then every kind written is catalogued, and every payload field is one the catalogue documents
    written = list(Event.objects.values_list("kind", "payload"))
    kinds = {kind for kind, _ in written}
    assert kinds <= set(CATALOGUE)
    assert kinds == set(CATALOGUE)  # and the flows above write every kind there is
    undocumented = {
        (kind, field) for kind, payload in written for field in payload if field not in CATALOGUE[kind].payload
    }
    assert undocumented == set()
