"""Extension points: named, listed in one place, printed by `manage.py extension_points`; a plain point's
failing listener fails the sender, an isolated one's is undone and logged; paused() silences a point in
this context only and leaves its listeners alone."""

import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from apps.core.extensions import REGISTRY, ExtensionPoint
from apps.core.models import Event
from apps.markets import hooks
from apps.reviews import hooks as review_hooks


def test_the_command_prints_what_each_point_sets_off():
    out = StringIO()
    call_command("extension_points", stdout=out)
    assert out.getvalue().splitlines() == [
        f"markets.claim_settled: {hooks.claim_settled.when}",
        "  -> apps.reputation.services.score_settled_claim",
        f"markets.claim_settled_announce: {hooks.claim_settled_announce.when}"
        " [isolated: each listener in its own savepoint]",
        "  -> apps.realtime.services.notifications_on_settlement",
        f"markets.trade_committed: {hooks.trade_committed.when}",
        "  -> apps.reputation.services.consensus_refresh_soon",
        f"reviews.request_finished: {review_hooks.request_finished.when}"
        " [isolated: each listener in its own savepoint]",
        "  -> apps.realtime.services.notifications_on_review_finished",
        f"reviews.request_moved: {review_hooks.request_moved.when} [isolated: each listener in its own savepoint]",
        "  -> apps.realtime.services.queue_refresh_on_review_moved",
        f"reviews.request_opened: {review_hooks.request_opened.when} [isolated: each listener in its own savepoint]",
        "  -> apps.realtime.services.notifications_on_review_opened",
        "reviews checkpoint claim.publish: A claim to publish (variables: actor, claim)",
        "reviews checkpoint explicit: An agent asks a person (variables: actor)",
        "reviews checkpoint identity.verify: A person asks to be verified as a human (variables: actor)",
        "reviews checkpoint moderation.appeal: A person appeals a moderator's action (another moderator decides) "
        "(variables: none)",
        "reviews checkpoint moderation.flag: Someone flags content or an identity for moderators (variables: none)",
        "reviews checkpoint resolution.dispute: A disputed resolution (variables: bond, claim), "
        "panelists at least verified_human",
        "reviews checkpoint trade.place: An order (variables: actor, claim, order)",
        "reviews continuation agents.run -> apps.agents.services.run_resume_after",
        "reviews continuation billing.verify -> apps.billing.verification.verification_resume",
        "reviews continuation markets.dispute -> apps.markets.checkpoints.dispute_resume",
        "reviews continuation markets.publish -> apps.markets.checkpoints.publish_resume",
        "reviews continuation markets.trade -> apps.markets.checkpoints.trade_resume",
        "reviews continuation moderation.appeal -> apps.moderation.services.appeal_resume",
        "reviews continuation moderation.flag -> apps.moderation.services.flag_resume",
        "reviews ranker -> apps.reputation.selectors.reviewer_ranks",
        "reviews scope check -> apps.markets.checkpoints._domain_exists",
    ]
    # and docs/architecture.md shows the same
    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    assert f"```\n{out.getvalue()}```" in doc


def test_a_name_is_taken_once():
    with pytest.raises(ValueError):
        ExtensionPoint("markets.claim_settled", when="again")


@pytest.fixture
def point():
    made = ExtensionPoint("tests.point", when="a test sends it")
    yield made
    del REGISTRY["tests.point"]


@pytest.fixture
def isolated():
    made = ExtensionPoint("tests.isolated", when="a test sends it", isolated=True)
    yield made
    del REGISTRY["tests.isolated"]


def test_connecting_twice_connects_once(point):
    heard = []
    point.connect(heard.append)
    point.connect(heard.append)
    point.send(1)
    assert heard == [1]


@pytest.mark.django_db
def test_an_isolated_listener_that_fails_is_undone_and_the_next_still_runs(isolated):
    def writes_then_fails(n):
        Event.objects.create(kind="tests.failed", subject="x")
        raise RuntimeError("display work failed")

    def writes(n):
        Event.objects.create(kind="tests.written", subject="x")

    isolated.connect(writes_then_fails)
    isolated.connect(writes)
    with transaction.atomic():
        isolated.send(1)
    assert list(Event.objects.values_list("kind", flat=True)) == ["tests.written"]


def test_a_plain_listener_that_fails_fails_the_sender(point):
    point.connect(lambda n: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        point.send(1)


def test_paused_silences_the_point_here_only_and_leaves_its_listeners(point):
    heard = []
    point.connect(heard.append)
    elsewhere = []
    with point.paused():
        point.send("paused here")
        thread = threading.Thread(target=lambda: (point.send("another thread"), elsewhere.append(True)))
        thread.start()
        thread.join()
        assert point.listeners == [heard.append]
    point.send("after")
    assert heard == ["another thread", "after"]
    assert elsewhere == [True]
