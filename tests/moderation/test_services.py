"""Flags, actions and appeals through the services: each action's change, its audit entry and its
notification; refusals that write nothing; an appeal decided by another moderator."""

import pytest
from django.test import override_settings

from apps.core.amounts import CREDIT
from apps.core.audit import audit_problems
from apps.core.errors import NotFound, PermissionDenied, ValidationFailed
from apps.core.models import AuditEntry
from apps.identities.errors import InvalidApiKey
from apps.identities.models import ApiKey, IdentityStatus, SuspendedAs
from apps.identities.services import api_key_authenticate
from apps.ledger.errors import WalletFrozen
from apps.ledger.models import Account
from apps.ledger.services import wallet_for, wallet_fund_agent, wallet_withdraw_agent
from apps.markets.errors import IllegalTransition
from apps.markets.models import Claim, Clarification
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from apps.moderation import services
from apps.moderation.errors import AlreadyAppealed, AlreadyFlagged, FlagRateLimited, NotAppealable
from apps.moderation.models import ActionKind, AppealStatus, Flag, FlagStatus, ModerationAction
from apps.realtime.models import Notification
from apps.reputation.models import Belief
from apps.reviews import services as reviews
from apps.reviews.models import RequestState, ReviewRequest
from tests import factories
from tests.support import signed_in

pytestmark = pytest.mark.django_db


def moderator_identity(email: str):
    """A staff member with an identity of their own (reviews hand work to identities)."""
    return factories.human(factories.verified_user(email, is_staff=True))


def take_and(moderator, checkpoint: str):
    lease = reviews.review_take_next(reviewer=moderator, checkpoint=checkpoint)
    assert lease is not None
    return lease


@pytest.fixture
def scene(db):
    author = factories.human()
    claim = factories.new_claim(author)
    believer = factories.human()
    belief = factories.state(believer, claim, "0.7", rationale="Buy now, visit spam.example for cheap pills")
    flagger = factories.human()
    first = moderator_identity("first@staff.example.com")
    second = moderator_identity("second@staff.example.com")
    return {
        "claim": claim,
        "belief": belief,
        "believer": believer,
        "flagger": flagger,
        "first": first,
        "second": second,
    }


def test_a_flag_becomes_a_staff_review_and_once_per_flagger(scene):
    flag = services.flag_create(
        flagger=scene["flagger"], target_type="belief", target_id=scene["belief"].pk, reason="spam", note="pills"
    )
    review = ReviewRequest.objects.get(pk=flag.review_id)
    assert (review.checkpoint, review.subject, review.pool, review.state) == (
        "moderation.flag",
        f"belief:{scene['belief'].pk}",
        "staff",
        RequestState.PENDING,
    )
    assert review.payload["party"] == scene["believer"].user_id
    with pytest.raises(AlreadyFlagged):
        services.flag_create(
            flagger=scene["flagger"], target_type="belief", target_id=scene["belief"].pk, reason="spam"
        )
    assert Flag.objects.count() == 1


def test_nobody_flags_their_own_and_unknown_targets_are_not_found(scene):
    with pytest.raises(PermissionDenied):
        services.flag_create(
            flagger=scene["believer"], target_type="belief", target_id=scene["belief"].pk, reason="spam"
        )
    with pytest.raises(NotFound):
        services.flag_create(flagger=scene["flagger"], target_type="claim", target_id=10**9, reason="spam")
    draft = factories.new_claim(factories.human(), publish=False)
    with pytest.raises(NotFound):  # someone else's draft is not there for them
        services.flag_create(flagger=scene["flagger"], target_type="claim", target_id=draft.pk, reason="spam")
    with pytest.raises(ValidationFailed):
        services.flag_create(flagger=scene["flagger"], target_type="claim", target_id=scene["claim"].pk, reason="rude")
    assert Flag.objects.count() == 0 and ReviewRequest.objects.count() == 0


@override_settings(CREDENCE_FLAGS_PER_DAY=2)
def test_flags_are_limited_per_person_with_their_agents(scene):
    owner = scene["flagger"]
    bot = factories.agent(owner.user)
    services.flag_create(flagger=owner, target_type="claim", target_id=scene["claim"].pk, reason="misleading")
    services.flag_create(flagger=bot, target_type="belief", target_id=scene["belief"].pk, reason="spam")
    with pytest.raises(FlagRateLimited):
        services.flag_create(flagger=owner, target_type="identity", target_id=scene["believer"].pk, reason="spam")
    assert Flag.objects.count() == 2


def test_hiding_from_the_queue_settles_the_flag_and_tells_both(scene):
    flag = services.flag_create(
        flagger=scene["flagger"], target_type="belief", target_id=scene["belief"].pk, reason="spam"
    )
    other = services.flag_create(
        flagger=factories.human(), target_type="belief", target_id=scene["belief"].pk, reason="abuse"
    )
    lease = take_and(scene["first"], "moderation.flag")
    action = services.moderation_act(
        moderator=scene["first"].user, kind="hide", target_type="belief", target_id=scene["belief"].pk,
        reason="Advertising",
    )  # fmt: skip
    belief = Belief.objects.get(pk=scene["belief"].pk)
    assert belief.is_hidden and belief.hidden_reason == "Advertising" and belief.hidden_by == scene["first"].user
    flag.refresh_from_db()
    other.refresh_from_db()
    assert (flag.status, flag.action, other.status, other.action) == (
        FlagStatus.UPHELD, action, FlagStatus.UPHELD, action,
    )  # fmt: skip
    taken = ReviewRequest.objects.get(pk=lease.request_id)
    assert taken.state == RequestState.APPROVED
    assert ReviewRequest.objects.get(pk=(other.review_id if taken.pk == flag.review_id else flag.review_id)).state == (
        RequestState.CANCELLED
    )
    entries = list(AuditEntry.objects.order_by("id").values_list("action", "object_type", "object_id", "actor_id"))
    assert entries == [
        ("belief.hide", "reputation.belief", str(belief.pk), scene["first"].user_id),
        ("moderation.hide", "moderation.moderationaction", str(action.pk), scene["first"].user_id),
    ]
    told = Notification.objects.get(user=scene["believer"].user, kind="moderation")
    assert told.text.startswith("Moderators hid @") and "Advertising. You may appeal." in told.text
    assert told.link == f"/moderation/actions/{action.pk}/"
    for request_id in (flag.review_id, other.review_id):
        reviews.review_resume(request_id=request_id)
    assert Notification.objects.get(user=scene["flagger"].user, kind="moderation").text.startswith("Your flag on @")


def test_dismissing_tells_the_flagger_why(scene):
    flag = services.flag_create(
        flagger=scene["flagger"], target_type="claim", target_id=scene["claim"].pk, reason="duplicate"
    )
    take_and(scene["first"], "moderation.flag")
    assert services.flag_dismiss(moderator=scene["first"].user, flag=flag, reason="Not a duplicate: other dates") == 1
    flag.refresh_from_db()
    assert flag.status == FlagStatus.DISMISSED
    assert ReviewRequest.objects.get(pk=flag.review_id).state == RequestState.REJECTED
    reviews.review_resume(request_id=flag.review_id)
    assert Notification.objects.get(user=scene["flagger"].user, kind="moderation").text.endswith(
        "was dismissed: Not a duplicate: other dates."
    )
    assert AuditEntry.objects.get().action == "flag.dismiss"


def test_non_staff_are_refused_and_nothing_is_written(scene):
    person = factories.verified_user()
    for kind, target_type, target_id in (
        ("hide", "belief", scene["belief"].pk),
        ("suspend", "identity", scene["believer"].pk),
        ("freeze", "identity", scene["believer"].pk),
        ("void", "claim", scene["claim"].pk),
    ):
        with pytest.raises(PermissionDenied) as refused:
            services.moderation_act(
                moderator=person, kind=kind, target_type=target_type, target_id=target_id, reason="x"
            )
        assert refused.value.message == "Only staff moderators may moderate."
    assert ModerationAction.objects.count() == AuditEntry.objects.count() == 0
    assert not Belief.objects.get(pk=scene["belief"].pk).is_hidden


def test_a_reason_is_required(scene):
    with pytest.raises(ValidationFailed):
        services.moderation_act(
            moderator=scene["first"].user, kind="hide", target_type="belief", target_id=scene["belief"].pk, reason=" "
        )
    assert AuditEntry.objects.count() == 0


def test_an_appeal_goes_to_another_moderator_who_restores(scene):
    action = services.moderation_act(
        moderator=scene["first"].user, kind="hide", target_type="belief", target_id=scene["belief"].pk, reason="Spam"
    )
    appeal = services.appeal_file(
        user=scene["believer"].user, action=action, statement="It is my honest reasoning, not an advert."
    )
    with pytest.raises(AlreadyAppealed):
        services.appeal_file(user=scene["believer"].user, action=action, statement="Again, please look again.")
    assert reviews.review_take_next(reviewer=scene["first"], checkpoint="moderation.appeal") is None  # not theirs
    lease = take_and(scene["second"], "moderation.appeal")
    reviews.review_decide(assignment_id=lease.pk, reviewer=scene["second"], kind="approve", reason="Fair reasoning")
    reviews.review_resume(request_id=appeal.review_id)
    appeal.refresh_from_db()
    assert (appeal.status, appeal.decided_by, appeal.decision_reason) == (
        AppealStatus.GRANTED, scene["second"].user, "Fair reasoning",
    )  # fmt: skip
    assert not Belief.objects.get(pk=scene["belief"].pk).is_hidden
    undone = ModerationAction.objects.get(reverses=action)
    assert (undone.kind, undone.moderator) == (ActionKind.RESTORE, scene["second"].user)
    assert list(AuditEntry.objects.filter(action="belief.restore").values_list("actor_id", "reason")) == [
        (scene["second"].user_id, "Fair reasoning")
    ]
    texts = list(Notification.objects.filter(user=scene["believer"].user).order_by("id").values_list("text", flat=True))
    assert texts[-1] == "Your appeal was granted: moderators undid “Hide”."


def test_only_the_person_affected_appeals_and_denied_keeps_it(scene):
    action = services.moderation_act(
        moderator=scene["first"].user, kind="hide", target_type="belief", target_id=scene["belief"].pk, reason="Spam"
    )
    with pytest.raises(NotFound):
        services.appeal_file(user=scene["flagger"].user, action=action, statement="Not mine but let me try.")
    appeal = services.appeal_file(user=scene["believer"].user, action=action, statement="Please look again at it.")
    lease = take_and(scene["second"], "moderation.appeal")
    reviews.review_decide(assignment_id=lease.pk, reviewer=scene["second"], kind="reject", reason="It is an advert")
    reviews.review_resume(request_id=appeal.review_id)
    appeal.refresh_from_db()
    assert appeal.status == AppealStatus.DENIED
    assert Belief.objects.get(pk=scene["belief"].pk).is_hidden
    assert Notification.objects.filter(user=scene["believer"].user).order_by("-id")[0].text == (
        "Your appeal was denied: It is an advert."
    )


def test_edit_before_trades_only(scene):
    moderator = scene["first"].user
    fresh = factories.new_claim(factories.human())
    action = services.moderation_act(
        moderator=moderator, kind="edit", target_type="claim", target_id=fresh.pk, reason="Misleading title",
        title="Will the replication succeed by June?", criteria="Resolves YES if the registered replication succeeds.",
    )  # fmt: skip
    fresh.refresh_from_db()
    assert fresh.title == "Will the replication succeed by June?"
    entry = AuditEntry.objects.get(action="claim.edit")
    assert entry.before["title"] == factories.TITLE and entry.after["title"] == fresh.title
    assert action.detail["before"]["title"] == factories.TITLE
    factories.buy(factories.human(), scene["claim"])
    with pytest.raises(IllegalTransition) as refused:
        services.moderation_act(
            moderator=moderator, kind="edit", target_type="claim", target_id=scene["claim"].pk, reason="x",
            title="Another title entirely", criteria="Other",
        )  # fmt: skip
    assert refused.value.code == "claim_has_trades"
    clarified = services.moderation_act(
        moderator=moderator, kind="clarify", target_type="claim", target_id=scene["claim"].pk,
        reason="Ambiguous date", text="'June' means 30 June 2027, 23:59 UTC.",
    )  # fmt: skip
    clarification = Clarification.objects.get(pk=clarified.detail["clarification"])
    assert clarification.added_by_moderator == moderator
    assert Claim.objects.get(pk=scene["claim"].pk).title == factories.TITLE


def test_suspending_a_person_with_their_agents_stops_their_keys_at_once(scene):
    owner = scene["believer"]
    bot = factories.agent(owner.user)
    token = factories.api_key(bot)
    assert api_key_authenticate(token=token).identity == bot
    action = services.moderation_act(
        moderator=scene["first"].user, kind="suspend_party", target_type="identity", target_id=owner.pk,
        reason="Coordinated manipulation",
    )  # fmt: skip
    assert action.detail == {"agents": [bot.pk]}
    bot.refresh_from_db()
    owner.refresh_from_db()
    assert (owner.status, bot.status, bot.suspended_as) == (
        IdentityStatus.SUSPENDED, IdentityStatus.SUSPENDED, SuspendedAs.MODERATOR,
    )  # fmt: skip
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(token=token)
    assert AuditEntry.objects.filter(action="identity.suspend").count() == 2
    services.moderation_act(
        moderator=scene["second"].user, kind="reactivate", target_type="identity", target_id=owner.pk,
        reason="Cleared",
    )  # fmt: skip
    assert api_key_authenticate(token=token).identity == bot
    assert ModerationAction.objects.get(kind="reactivate").reverses == action


def test_revoking_every_key_of_an_agent(scene):
    bot = factories.agent(scene["believer"].user)
    tokens = [factories.api_key(bot), factories.api_key(bot)]
    action = services.moderation_act(
        moderator=scene["first"].user, kind="revoke_keys", target_type="identity", target_id=bot.pk,
        reason="Keys leaked in a public repository",
    )  # fmt: skip
    assert action.detail == {"revoked": 2}
    assert ApiKey.objects.filter(identity=bot, revoked_at__isnull=True).count() == 0
    for token in tokens:
        with pytest.raises(InvalidApiKey):
            api_key_authenticate(token=token)
    with pytest.raises(NotAppealable):
        services.appeal_file(user=scene["believer"].user, action=action, statement="Please give my keys back.")


def test_a_frozen_wallet_neither_trades_nor_funds_but_settlement_pays_in(scene):
    trader = scene["believer"]
    claim = scene["claim"]
    factories.buy(trader, claim, "yes", credits=10)
    bot = factories.agent(trader.user)
    services.moderation_act(
        moderator=scene["first"].user, kind="freeze", target_type="identity", target_id=trader.pk, reason="Chargebacks"
    )
    before = wallet_for(trader).balance
    with pytest.raises(WalletFrozen):
        factories.buy(trader, claim, "yes", credits=1)
    with pytest.raises(WalletFrozen):  # selling too
        trade_place(
            identity=trader, claim=claim, order=Order(kind="sell", side="yes", amount=CREDIT), idempotency_key="s"
        )
    with pytest.raises(WalletFrozen):
        wallet_fund_agent(owner=trader.user, agent=bot, amount=CREDIT, idempotency_key="f")
    assert wallet_for(trader).balance == before
    factories.resolve(claim, "yes")
    assert wallet_for(trader).balance > before  # settlement paid the winning shares in
    frozen = Account.objects.get(pk=wallet_for(trader).pk)
    assert frozen.frozen_at is not None and frozen.frozen_reason == "Chargebacks"


def test_a_frozen_agent_wallet_is_not_funded_nor_drained(scene):
    owner = scene["believer"]
    bot = factories.agent(owner.user)
    wallet_fund_agent(owner=owner.user, agent=bot, amount=5 * CREDIT, idempotency_key="f1")
    services.moderation_act(
        moderator=scene["first"].user, kind="freeze", target_type="identity", target_id=bot.pk, reason="Wash trading"
    )
    with pytest.raises(WalletFrozen):
        wallet_fund_agent(owner=owner.user, agent=bot, amount=CREDIT, idempotency_key="f2")
    with pytest.raises(WalletFrozen):
        wallet_withdraw_agent(owner=owner.user, agent=bot, amount=CREDIT, idempotency_key="w1")
    assert wallet_for(bot).balance == 5 * CREDIT


def test_suspending_the_owner_alone_stops_their_hosted_agents_at_once(scene):
    from datetime import timedelta

    from django.utils import timezone

    from apps.agents import services as agents
    from apps.agents.models import HostedAgent

    due = factories.hosted(every_minutes=5)
    busy = factories.hosted(factories.funded_agent(due.identity.owner), every_minutes=5)
    queued = factories.manual_run(busy)
    HostedAgent.objects.filter(pk=due.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))
    owner = factories.human(due.identity.owner)
    services.moderation_act(
        moderator=scene["first"].user, kind="suspend", target_type="identity", target_id=owner.pk, reason="Fraud"
    )

    assert agents.agents_dispatch() == []  # no new run for an agent whose owner is suspended
    assert agents.run_execute(run_id=queued.pk) == "stopped"  # nor does a queued one run
    queued.refresh_from_db()
    assert queued.outcome == "The agent's owner is suspended."


# Every action once, as the moderation page and the admin call it: (kind, what it acts on, the owning service's
# audit action, how the person affected is told).
EVERY_ACTION = [
    ("hide", "claim", "claim.hide", "Moderators hid your claim “"),
    ("restore", "claim", "claim.restore", "Moderators restored your claim “"),
    ("edit", "claim", "claim.edit", "Moderators edited your claim “"),
    ("clarify", "claim", "claim.clarify", "Moderators added a clarification to your claim “"),
    ("void", "claim", "claim.void", "Moderators voided your claim “"),
    ("hide", "clarification", "clarification.hide", "Moderators hid your clarification of “"),
    ("restore", "clarification", "clarification.restore", "Moderators restored your clarification of “"),
    ("hide", "belief", "belief.hide", "Moderators hid @"),
    ("restore", "belief", "belief.restore", "Moderators restored @"),
    ("suspend", "identity", "identity.suspend", "Moderators suspended @"),
    ("suspend_party", "identity", "identity.suspend", "Moderators suspended, with all your agents, @"),
    ("reactivate", "identity", "identity.reactivate", "Moderators lifted the suspension of @"),
    ("revoke_keys", "identity", "identity.revoke_keys", "Moderators revoked every API key of @"),
    ("freeze", "identity", "wallet.freeze", "Moderators froze the wallet of @"),
    ("unfreeze", "identity", "wallet.unfreeze", "Moderators unfroze the wallet of @"),
]


@pytest.mark.parametrize(("kind", "target_type", "entry", "told"), EVERY_ACTION)
def test_every_action_changes_records_and_tells(kind, target_type, entry, told):
    from apps.markets.services import claim_clarify

    moderator = factories.moderator()
    person = factories.human()
    claim = factories.new_claim(person)
    bot = factories.agent(person.user)
    factories.api_key(bot)
    targets = {
        "claim": claim,
        "clarification": claim_clarify(claim=claim, actor=person, text="Only registered replications count."),
        "belief": factories.state(person, claim, "0.8", rationale="I ran the numbers"),
        "identity": bot if kind == "revoke_keys" else person,
    }
    target = targets[target_type]
    undo_first = {"restore": "hide", "reactivate": "suspend", "unfreeze": "freeze"}
    if kind in undo_first:  # something to undo first
        services.moderation_act(
            moderator=moderator, kind=undo_first[kind], target_type=target_type, target_id=target.pk, reason="First"
        )
    seen = AuditEntry.objects.count()
    notified = Notification.objects.filter(user=person.user, kind="moderation").count()

    action = services.moderation_act(
        moderator=moderator, kind=kind, target_type=target_type, target_id=target.pk, reason="The rules, §3",
        title="Will the registered replication succeed?", criteria="YES if the registered replication succeeds.",
        text="Replication means the registered one.",
    )  # fmt: skip

    new = list(AuditEntry.objects.order_by("id")[seen:].values_list("action", "object_type", "object_id", "actor_id"))
    assert new[0][0] == entry and new[0][3] == moderator.pk
    assert new[-1] == ("moderation." + kind, "moderation.moderationaction", str(action.pk), moderator.pk)
    assert (action.kind, action.party, action.reason) == (kind, person.user, "The rules, §3")
    message = Notification.objects.filter(user=person.user, kind="moderation").order_by("-id").first()
    assert Notification.objects.filter(user=person.user, kind="moderation").count() == notified + 1
    assert message.text.startswith(told) and ": The rules, §3." in message.text
    assert message.link == f"/moderation/actions/{action.pk}/"
    assert ("You may appeal." in message.text) == (kind in ("hide", "edit", "suspend", "suspend_party", "freeze"))
    assert audit_problems() == []


def test_a_repeated_action_changes_nothing_and_tells_nobody_twice(scene):
    from apps.moderation.errors import NothingToChange

    def hide():
        return services.moderation_act(
            moderator=scene["first"].user,
            kind="hide",
            target_type="belief",
            target_id=scene["belief"].pk,
            reason="Spam",
        )

    hide()
    with pytest.raises(NothingToChange):
        hide()
    with pytest.raises(NothingToChange):  # lifting a suspension nobody made
        services.moderation_act(
            moderator=scene["first"].user, kind="reactivate", target_type="identity", target_id=scene["believer"].pk,
            reason="Nothing to lift",
        )  # fmt: skip
    assert ModerationAction.objects.count() == 1
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["belief.hide", "moderation.hide"]
    assert Notification.objects.filter(user=scene["believer"].user, kind="moderation").count() == 1


def test_a_flag_settled_already_is_not_dismissed_again(scene):
    from apps.moderation.errors import NothingToChange

    flag = services.flag_create(
        flagger=scene["flagger"], target_type="claim", target_id=scene["claim"].pk, reason="spam"
    )
    services.flag_dismiss(moderator=scene["first"].user, flag=flag, reason="Fine as it is")
    with pytest.raises(NothingToChange):
        services.flag_dismiss(moderator=scene["second"].user, flag=flag, reason="Also fine")
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["flag.dismiss"]


def test_an_appeal_granted_after_another_moderator_undid_it_is_granted_without_a_second_undo(scene):
    action = services.moderation_act(
        moderator=scene["first"].user, kind="hide", target_type="belief", target_id=scene["belief"].pk, reason="Spam"
    )
    appeal = services.appeal_file(user=scene["believer"].user, action=action, statement="Honest reasoning, really.")
    services.moderation_act(
        moderator=scene["second"].user, kind="restore", target_type="belief", target_id=scene["belief"].pk,
        reason="Looked again",
    )  # fmt: skip
    lease = take_and(scene["second"], "moderation.appeal")
    reviews.review_decide(assignment_id=lease.pk, reviewer=scene["second"], kind="approve", reason="Agreed")
    assert reviews.review_resume(request_id=appeal.review_id)["undone_by"] is None
    appeal.refresh_from_db()
    assert appeal.status == AppealStatus.GRANTED
    assert ModerationAction.objects.filter(kind="restore").count() == 1


def test_a_suspended_person_appeals_and_another_moderator_lifts_it_with_their_agents(scene):
    person = scene["believer"]
    bot = factories.agent(person.user)
    token = factories.api_key(bot)
    action = services.moderation_act(
        moderator=scene["first"].user, kind="suspend_party", target_type="identity", target_id=person.pk,
        reason="Sock puppets",
    )  # fmt: skip
    page = signed_in(person.user).get(f"/moderation/actions/{action.pk}/")
    assert page.status_code == 200 and "Sock puppets" in page.content.decode()

    appeal = services.appeal_file(user=person.user, action=action, statement="These are my own research bots.")
    lease = take_and(scene["second"], "moderation.appeal")
    reviews.review_decide(assignment_id=lease.pk, reviewer=scene["second"], kind="approve", reason="Declared bots")
    reviews.review_resume(request_id=appeal.review_id)

    person.refresh_from_db()
    bot.refresh_from_db()
    assert (person.status, bot.status) == (IdentityStatus.ACTIVE, IdentityStatus.ACTIVE)
    assert api_key_authenticate(token=token).identity == bot
    assert ModerationAction.objects.get(reverses=action).detail == {"agents": [bot.pk]}
