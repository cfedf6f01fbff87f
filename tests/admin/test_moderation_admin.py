"""Moderators in the admin: every action asks for the reason first, then goes through moderation_act (the change,
its audit entry, the ModerationAction, the person told); a wrong object in the selection is a message for it and
the others go on; the moderators' filters return exactly their rows, with no query per row; an object's page
shows its history on the audit trail."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import User
from apps.core.models import AuditEntry
from apps.identities.models import ApiKey, Identity, IdentityStatus, SuspendedAs
from apps.identities.services import agent_suspend
from apps.ledger.models import Account, AccountKind
from apps.ledger.services import wallet_for
from apps.markets.models import Claim, ClaimStatus, Clarification
from apps.markets.services import claim_clarify
from apps.moderation import services
from apps.moderation.models import ActionKind, Appeal, AppealStatus, Flag, FlagStatus, ModerationAction
from apps.realtime.models import Notification
from apps.reputation.models import Belief
from tests import factories
from tests.support import signed_in

pytestmark = pytest.mark.django_db

IDENTITIES = "/admin/identities/identity/"
CLAIMS = "/admin/markets/claim/"
CLARIFICATIONS = "/admin/markets/clarification/"
BELIEFS = "/admin/reputation/belief/"
ACCOUNTS = "/admin/ledger/account/"
FLAGS = "/admin/moderation/flag/"
ACTIONS = "/admin/moderation/moderationaction/"
APPEALS = "/admin/moderation/appeal/"


@pytest.fixture
def moderator():
    return User.objects.create_superuser(email="mod@example.com", password=factories.PASSWORD)


@pytest.fixture
def client(moderator):
    return signed_in(moderator)


def post_action(client, url: str, action: str, objects, reason: str | None = None):
    """The changelist's action on `objects`; with a reason, the intermediate page's answer."""
    data = {"action": action, "_selected_action": [str(obj.pk) for obj in objects]}
    if reason is not None:
        data |= {"apply": "1", "reason": reason}
    return client.post(url, data)


def said(response) -> list[tuple[str, str]]:
    return [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)]


def entries() -> list[tuple[str, str, str]]:
    return list(AuditEntry.objects.order_by("id").values_list("action", "object_type", "object_id"))


def told(user) -> list[str]:
    return list(Notification.objects.filter(user=user, kind="moderation").order_by("id").values_list("text", flat=True))


def shown(response) -> set[int]:
    """The primary keys of the rows a changelist shows."""
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


# --- The reason page ---------------------------------------------------------------------------------------


def test_an_action_asks_for_the_reason_first_and_changes_nothing_until_given(client):
    person = factories.human()
    asked = post_action(client, IDENTITIES, "suspend", [person])
    assert asked.status_code == 200
    page = asked.content.decode()
    assert f"@{person.handle} (Human, Active)" in page
    assert '<input type="hidden" name="action" value="suspend">' in page
    assert f'<input type="hidden" name="_selected_action" value="{person.pk}">' in page
    refused = post_action(client, IDENTITIES, "suspend", [person], reason="  ")
    assert refused.status_code == 200 and "This field is required." in refused.content.decode()
    too_long = post_action(client, IDENTITIES, "suspend", [person], reason="x" * 501)
    assert too_long.status_code == 200  # a reason has at most 500 characters
    person.refresh_from_db()
    assert person.status == IdentityStatus.ACTIVE
    assert ModerationAction.objects.count() == AuditEntry.objects.count() == Notification.objects.count() == 0


def test_non_staff_get_the_admin_login_and_nothing_happens():
    person = factories.human()
    not_staff = signed_in(factories.verified_user())
    response = post_action(not_staff, IDENTITIES, "suspend", [person], reason="Mine now")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next=/admin/")
    assert not_staff.get("/admin/core/auditentry/export/csv/").status_code == 302
    person.refresh_from_db()
    assert person.status == IdentityStatus.ACTIVE
    assert ModerationAction.objects.count() == AuditEntry.objects.count() == 0


# --- Identities --------------------------------------------------------------------------------------------


def test_suspend_goes_through_moderation_act(client, moderator):
    person = factories.human()
    response = post_action(client, IDENTITIES, "suspend", [person], reason="Spamming claims")
    assert response.status_code == 302 and response["Location"] == IDENTITIES
    assert said(response) == [("success", "Suspend: done for 1 of 1.")]
    person.refresh_from_db()
    assert (person.status, person.suspended_as, person.suspended_by, person.suspended_reason) == (
        IdentityStatus.SUSPENDED, SuspendedAs.MODERATOR, moderator, "Spamming claims",
    )  # fmt: skip
    action = ModerationAction.objects.get()
    assert (action.kind, action.target_type, action.target_id, action.moderator, action.party, action.reason) == (
        ActionKind.SUSPEND, "identity", person.pk, moderator, person.user, "Spamming claims",
    )  # fmt: skip
    assert entries() == [
        ("identity.suspend", "identities.identity", str(person.pk)),
        ("moderation.suspend", "moderation.moderationaction", str(action.pk)),
    ]
    entry = AuditEntry.objects.get(action="identity.suspend")
    assert (entry.actor, entry.acting_as, entry.reason, entry.ip) == (
        moderator,
        "superuser",
        "Spamming claims",
        "127.0.0.1",
    )
    assert entry.request_id and entry.before["status"] == "active" and entry.after["status"] == "suspended"
    assert told(person.user) == [f"Moderators suspended @{person.handle}: Spamming claims. You may appeal."]


def test_suspend_with_agents_refuses_an_agent_by_name_and_goes_on_with_the_person(client):
    person = factories.human()
    their_bot = factories.agent(person.user)
    other_bot = factories.agent()
    response = post_action(client, IDENTITIES, "suspend_party", [person, other_bot], reason="Coordinated manipulation")
    assert said(response) == [
        (
            "error",
            f"@{other_bot.handle} (Agent, Active): Suspending with all agents applies to a person: suspend an agent "
            "by itself.",
        ),
        ("success", "Suspend with all agents: done for 1 of 2."),
    ]
    statuses = dict(Identity.objects.filter(pk__in=[person.pk, their_bot.pk, other_bot.pk]).values_list("pk", "status"))
    assert statuses == {person.pk: "suspended", their_bot.pk: "suspended", other_bot.pk: "active"}
    action = ModerationAction.objects.get()
    assert (action.kind, action.target_id, action.detail) == (
        ActionKind.SUSPEND_PARTY,
        person.pk,
        {"agents": [their_bot.pk]},
    )
    assert [e[0] for e in entries()] == ["identity.suspend", "identity.suspend", "moderation.suspend_party"]
    assert told(person.user) == [
        f"Moderators suspended, with all your agents, @{person.handle}: Coordinated manipulation. You may appeal."
    ]
    assert told(other_bot.owner) == []


def test_lifting_a_suspension_reverses_it_and_tells_why(client, moderator):
    person = factories.human()
    suspended = services.moderation_act(
        moderator=moderator, kind="suspend", target_type="identity", target_id=person.pk, reason="Spam"
    )
    response = post_action(client, IDENTITIES, "reactivate", [person], reason="Cleared on review")
    assert said(response) == [("success", "Lift the suspension: done for 1 of 1.")]
    person.refresh_from_db()
    assert (person.status, person.suspended_as) == (IdentityStatus.ACTIVE, "")
    lifted = ModerationAction.objects.get(kind=ActionKind.REACTIVATE)
    assert lifted.reverses == suspended
    assert [e[0] for e in entries()][2:] == ["identity.reactivate", "moderation.reactivate"]
    assert told(person.user)[-1] == f"Moderators lifted the suspension of @{person.handle}: Cleared on review."


def test_revoking_every_key_is_for_agents(client):
    owner = factories.human()
    bot = factories.agent(owner.user)
    factories.api_key(bot)
    factories.api_key(bot)
    response = post_action(client, IDENTITIES, "revoke_keys", [owner, bot], reason="Keys leaked")
    assert said(response) == [
        ("error", f"@{owner.handle} (Human, Active): Only an agent has API keys."),
        ("success", "Revoke all keys: done for 1 of 2."),
    ]
    assert ApiKey.objects.filter(identity=bot, revoked_at__isnull=True).count() == 0
    action = ModerationAction.objects.get()
    assert (action.kind, action.target_id, action.detail, action.party) == (
        ActionKind.REVOKE_KEYS, bot.pk, {"revoked": 2}, owner.user,
    )  # fmt: skip
    assert [e[0] for e in entries()] == ["identity.revoke_keys", "moderation.revoke_keys"]
    assert told(owner.user) == [f"Moderators revoked every API key of @{bot.handle}: Keys leaked."]


def test_freezing_and_unfreezing_a_wallet_from_the_identity(client, moderator):
    person = factories.human()
    post_action(client, IDENTITIES, "freeze", [person], reason="Chargebacks")
    wallet = Account.objects.get(pk=wallet_for(person).pk)
    assert (wallet.frozen_reason, wallet.frozen_by) == ("Chargebacks", moderator) and wallet.frozen_at is not None
    post_action(client, IDENTITIES, "unfreeze", [person], reason="Paid back")
    wallet.refresh_from_db()
    assert (wallet.frozen_at, wallet.frozen_reason, wallet.frozen_by) == (None, "", None)
    freeze, unfreeze = ModerationAction.objects.order_by("id")
    assert (freeze.kind, unfreeze.kind, unfreeze.reverses) == (ActionKind.FREEZE, ActionKind.UNFREEZE, freeze)
    assert entries() == [
        ("wallet.freeze", "ledger.account", str(wallet.pk)),
        ("moderation.freeze", "moderation.moderationaction", str(freeze.pk)),
        ("wallet.unfreeze", "ledger.account", str(wallet.pk)),
        ("moderation.unfreeze", "moderation.moderationaction", str(unfreeze.pk)),
    ]
    assert told(person.user) == [
        f"Moderators froze the wallet of @{person.handle}: Chargebacks. You may appeal.",
        f"Moderators unfroze the wallet of @{person.handle}: Paid back.",
    ]


def test_an_action_from_the_objects_own_page(client):
    person = factories.human()
    page = f"{IDENTITIES}{person.pk}/change/"
    asked = client.post(page, {"CHANGE_FORM-action": "suspend", "_selected_action": [str(person.pk)]})
    assert asked.status_code == 200
    assert '<input type="hidden" name="CHANGE_FORM-action" value="suspend">' in asked.content.decode()
    done = client.post(
        page,
        {"CHANGE_FORM-action": "suspend", "_selected_action": [str(person.pk)], "apply": "1", "reason": "Abuse"},
    )
    assert done.status_code == 302 and done["Location"] == page
    assert Identity.objects.get(pk=person.pk).status == IdentityStatus.SUSPENDED
    assert ModerationAction.objects.get().kind == ActionKind.SUSPEND


# --- Wallets in the ledger's admin -------------------------------------------------------------------------


def test_freezing_from_the_accounts_list_refuses_what_is_not_a_wallet(client):
    person = factories.human()
    wallet = wallet_for(person)
    escrow = Account.objects.exclude(kind=AccountKind.WALLET).order_by("id").first()
    response = post_action(client, ACCOUNTS, "freeze", [wallet, escrow], reason="Wash trading")
    assert said(response) == [
        ("error", f"{escrow} (#{escrow.pk}): Only an identity's wallet can be frozen or unfrozen."),
        ("success", "Freeze the wallet: done for 1 of 2."),
    ]
    assert Account.objects.get(pk=wallet.pk).frozen_reason == "Wash trading"
    assert Account.objects.filter(frozen_at__isnull=False).count() == 1
    assert ModerationAction.objects.get().target_id == person.pk


# --- Content -----------------------------------------------------------------------------------------------


def test_hiding_and_restoring_a_claim(client, moderator):
    author = factories.human()
    claim = factories.new_claim(author)
    post_action(client, CLAIMS, "hide", [claim], reason="Duplicate of an older claim")
    hidden = Claim.objects.get(pk=claim.pk)
    assert (hidden.hidden_reason, hidden.hidden_by) == ("Duplicate of an older claim", moderator)
    post_action(client, CLAIMS, "restore", [claim], reason="Not a duplicate after all")
    assert Claim.objects.get(pk=claim.pk).hidden_at is None
    hide, restore = ModerationAction.objects.order_by("id")
    assert (hide.kind, restore.kind, restore.reverses, hide.party) == ("hide", "restore", hide, author.user)
    assert entries() == [
        ("claim.hide", "markets.claim", str(claim.pk)),
        ("moderation.hide", "moderation.moderationaction", str(hide.pk)),
        ("claim.restore", "markets.claim", str(claim.pk)),
        ("moderation.restore", "moderation.moderationaction", str(restore.pk)),
    ]
    assert told(author.user) == [
        f"Moderators hid your claim “{factories.TITLE}”: Duplicate of an older claim. You may appeal.",
        f"Moderators restored your claim “{factories.TITLE}”: Not a duplicate after all.",
    ]


def test_voiding_claims_refunds_and_refuses_a_voided_one_by_name(client, moderator):
    author = factories.human()
    claim = factories.new_claim(author)
    voided = factories.new_claim(author, title="Will the second experiment replicate?")
    services.moderation_act(
        moderator=moderator, kind="void", target_type="claim", target_id=voided.pk,
        reason="Unresolvable",
    )  # fmt: skip
    before = ModerationAction.objects.count()
    response = post_action(client, CLAIMS, "void", [claim, voided], reason="Cannot be resolved as written")
    assert said(response) == [
        ("error", f"#{voided.pk} “Will the second experiment replicate?”: This claim is already settled or voided."),
        ("success", "Void: done for 1 of 2."),
    ]
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.VOIDED
    assert ModerationAction.objects.count() == before + 1
    action = ModerationAction.objects.latest("id")
    assert (action.kind, action.target_id) == (ActionKind.VOID, claim.pk)
    assert AuditEntry.objects.filter(action="claim.void", object_id=str(claim.pk)).count() == 1
    assert AuditEntry.objects.filter(action="moderation.void", object_id=str(action.pk)).count() == 1
    assert told(author.user)[-1] == f"Moderators voided your claim “{factories.TITLE}”: Cannot be resolved as written."


def test_the_claim_pages_void_edit_and_clarify_go_through_moderation_act(client):
    claim = factories.new_claim()
    page = client.get(f"{CLAIMS}{claim.pk}/change/").content.decode()
    for view in ("void", "edit", "clarify"):
        assert f"{CLAIMS}{claim.pk}/{view}/" in page
    assert 'name="title"' not in page  # the title is changed only by an edit with its reason
    edited = client.post(
        f"{CLAIMS}{claim.pk}/edit/",
        {"title": "Will the replication succeed by June?", "criteria": factories.CRITERIA, "reason": "Misleading"},
    )
    assert edited.status_code == 302
    assert Claim.objects.get(pk=claim.pk).title == "Will the replication succeed by June?"
    clarified = client.post(f"{CLAIMS}{claim.pk}/clarify/", {"text": "June means 30 June.", "reason": "Ambiguous"})
    assert clarified.status_code == 302
    assert client.post(f"{CLAIMS}{claim.pk}/void/", {"reason": "Duplicate"}).status_code == 302
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.VOIDED
    kinds = list(ModerationAction.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == [ActionKind.EDIT, ActionKind.CLARIFY, ActionKind.VOID]


def test_editing_a_traded_claim_shows_the_rule(client):
    claim = factories.new_claim()
    factories.buy(factories.human(), claim)
    refused = client.post(
        f"{CLAIMS}{claim.pk}/edit/", {"title": "Another title entirely", "criteria": "Other", "reason": "Misleading"}
    )
    assert refused.status_code == 200
    assert Claim.objects.get(pk=claim.pk).title == factories.TITLE
    assert ModerationAction.objects.count() == 0


def test_hiding_and_restoring_a_clarification(client):
    author = factories.human()
    claim = factories.new_claim(author)
    clarification = claim_clarify(claim=claim, actor=author, text="Buy pills at spam.example")
    post_action(client, CLARIFICATIONS, "hide", [clarification], reason="Advertising")
    assert Clarification.objects.get(pk=clarification.pk).hidden_reason == "Advertising"
    post_action(client, CLARIFICATIONS, "restore", [clarification], reason="Appeal upheld")
    assert Clarification.objects.get(pk=clarification.pk).hidden_at is None
    hide, restore = ModerationAction.objects.order_by("id")
    assert [e[:2] for e in entries()] == [
        ("clarification.hide", "markets.clarification"),
        ("moderation.hide", "moderation.moderationaction"),
        ("clarification.restore", "markets.clarification"),
        ("moderation.restore", "moderation.moderationaction"),
    ]
    assert told(author.user) == [
        f"Moderators hid your clarification of “{factories.TITLE}”: Advertising. You may appeal.",
        f"Moderators restored your clarification of “{factories.TITLE}”: Appeal upheld.",
    ]
    assert restore.reverses == hide


def test_hiding_and_restoring_a_rationale(client):
    believer = factories.human()
    belief = factories.state(believer, factories.new_claim(), "0.7", rationale="Cheap pills at spam.example")
    post_action(client, BELIEFS, "hide", [belief], reason="Advertising")
    assert Belief.objects.get(pk=belief.pk).hidden_reason == "Advertising"
    post_action(client, BELIEFS, "restore", [belief], reason="Appeal upheld")
    assert Belief.objects.get(pk=belief.pk).hidden_at is None
    assert [e[0] for e in entries()] == ["belief.hide", "moderation.hide", "belief.restore", "moderation.restore"]
    assert told(believer.user) == [
        f"Moderators hid @{believer.handle}'s rationale on “{factories.TITLE}”: Advertising. You may appeal.",
        f"Moderators restored @{believer.handle}'s rationale on “{factories.TITLE}”: Appeal upheld.",
    ]


def test_dismissing_flags_from_the_flags_list(client, moderator):
    claim = factories.new_claim()
    flagger = factories.human()
    flag = services.flag_create(flagger=flagger, target_type="claim", target_id=claim.pk, reason="duplicate")
    response = post_action(client, FLAGS, "dismiss", [flag], reason="Other dates")
    assert said(response) == [("success", "Dismiss: done for 1 of 1.")]
    flag.refresh_from_db()
    assert (flag.status, flag.decision_reason) == (FlagStatus.DISMISSED, "Other dates")
    assert entries() == [("flag.dismiss", "moderation.flag", str(flag.pk))]
    client.get(response["Location"])  # the list shows (and uses up) the message
    again = post_action(client, FLAGS, "dismiss", [flag], reason="Again")
    assert said(again) == [
        ("error", f"Flag #{flag.pk} on claim #{claim.pk} (Duplicate of another claim): It is dismissed already.")
    ]
    assert AuditEntry.objects.count() == 1


# --- Filters -----------------------------------------------------------------------------------------------


def test_the_identity_filters(client, moderator):
    flagged, suspended, frozen, old = factories.human(), factories.human(), factories.human(), factories.human()
    bot = factories.agent(old.user)
    services.flag_create(flagger=factories.human(), target_type="identity", target_id=flagged.pk, reason="spam")
    services.moderation_act(
        moderator=moderator, kind="suspend", target_type="identity", target_id=suspended.pk, reason="x"
    )
    services.moderation_act(moderator=moderator, kind="freeze", target_type="identity", target_id=frozen.pk, reason="x")
    agent_suspend(owner=old.user, agent=bot, reason="paused")
    Identity.objects.filter(pk__in=[old.pk, bot.pk]).update(created_at=timezone.now() - timedelta(days=3))
    everyone = set(Identity.objects.values_list("pk", flat=True))

    assert shown(client.get(IDENTITIES + "?flagged=yes")) == {flagged.pk}
    assert shown(client.get(IDENTITIES + "?flagged=no")) == everyone - {flagged.pk}
    assert shown(client.get(IDENTITIES + "?suspended=yes")) == {suspended.pk, bot.pk}
    assert shown(client.get(IDENTITIES + "?suspended=moderator")) == {suspended.pk}
    assert shown(client.get(IDENTITIES + "?suspended=owner")) == {bot.pk}
    assert shown(client.get(IDENTITIES + "?frozen=yes")) == {frozen.pk}
    assert shown(client.get(IDENTITIES + "?recent=24h")) == everyone - {old.pk, bot.pk}
    assert shown(client.get(IDENTITIES + "?recent=7d")) == everyone
    listing = client.get(IDENTITIES + "?frozen=yes").content.decode()
    assert '<td class="field-wallet_frozen"><img src="/static/admin/img/icon-yes.svg" alt="True"></td>' in listing


def test_the_content_filters(client, moderator):
    author = factories.human()
    flagged, hidden, plain = (factories.new_claim(author, title=f"Will claim {n} hold?") for n in range(3))
    services.flag_create(flagger=factories.human(), target_type="claim", target_id=flagged.pk, reason="misleading")
    services.moderation_act(moderator=moderator, kind="hide", target_type="claim", target_id=hidden.pk, reason="x")
    assert shown(client.get(CLAIMS + "?flagged=yes")) == {flagged.pk}
    assert shown(client.get(CLAIMS + "?hidden=yes")) == {hidden.pk}
    assert shown(client.get(CLAIMS + "?hidden=no")) == {flagged.pk, plain.pk}
    beliefs = [factories.state(factories.human(), plain, "0.6", rationale=f"reason {n}") for n in range(2)]
    services.flag_create(flagger=factories.human(), target_type="belief", target_id=beliefs[0].pk, reason="spam")
    assert shown(client.get(BELIEFS + "?flagged=yes")) == {beliefs[0].pk}
    clarification = claim_clarify(claim=plain, actor=author, text="It means the first one.")
    services.moderation_act(
        moderator=moderator, kind="hide", target_type="clarification", target_id=clarification.pk, reason="x"
    )
    assert shown(client.get(CLARIFICATIONS + "?hidden=yes")) == {clarification.pk}
    assert shown(client.get(CLARIFICATIONS + "?flagged=yes")) == set()


def test_the_flag_action_and_appeal_filters(client, moderator):
    claim = factories.new_claim()
    person = factories.human()
    spam = services.flag_create(flagger=factories.human(), target_type="claim", target_id=claim.pk, reason="spam")
    old = services.flag_create(flagger=factories.human(), target_type="identity", target_id=person.pk, reason="abuse")
    Flag.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    suspend = services.moderation_act(
        moderator=moderator, kind="suspend", target_type="identity", target_id=person.pk, reason="Abuse"
    )
    hide = services.moderation_act(
        moderator=moderator, kind="hide", target_type="claim", target_id=claim.pk, reason="x"
    )
    ModerationAction.objects.filter(pk=suspend.pk).update(created_at=timezone.now() - timedelta(days=10))
    appeal = services.appeal_file(user=person.user, action=suspend, statement="I was quoting someone else.")

    assert shown(client.get(FLAGS + "?status__exact=upheld")) == {spam.pk, old.pk}
    assert shown(client.get(FLAGS + "?status__exact=open")) == set()
    assert shown(client.get(FLAGS + "?reason__exact=abuse")) == {old.pk}
    assert shown(client.get(FLAGS + "?target_type__exact=claim")) == {spam.pk}
    assert shown(client.get(FLAGS + "?recent=24h")) == {spam.pk}
    assert shown(client.get(FLAGS + "?recent=7d")) == {spam.pk, old.pk}
    assert shown(client.get(ACTIONS + "?kind__exact=hide")) == {hide.pk}
    assert shown(client.get(ACTIONS + "?target_type__exact=identity")) == {suspend.pk}
    assert shown(client.get(ACTIONS + "?recent=7d")) == {hide.pk}
    assert shown(client.get(APPEALS + "?status__exact=open")) == {appeal.pk}
    assert shown(client.get(APPEALS + "?status__exact=denied")) == set()
    assert Appeal.objects.get().status == AppealStatus.OPEN


def test_flags_actions_and_appeals_are_only_read(client, moderator):
    claim = factories.new_claim()
    flag = services.flag_create(flagger=factories.human(), target_type="claim", target_id=claim.pk, reason="spam")
    action = services.moderation_act(
        moderator=moderator, kind="hide", target_type="claim", target_id=claim.pk, reason="x"
    )
    for url in (FLAGS, ACTIONS, APPEALS):
        assert client.get(url + "add/").status_code == 403
    assert client.post(f"{FLAGS}{flag.pk}/change/", {"status": "open"}).status_code == 403
    assert client.post(f"{ACTIONS}{action.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{FLAGS}{flag.pk}/change/").status_code == 200
    assert Flag.objects.get().status == FlagStatus.UPHELD


# --- No query per row --------------------------------------------------------------------------------------


def _moderated_world(moderator, n: int) -> None:
    """n of everything a moderator lists: people with agents, claims, rationales, clarifications, flags on
    each, actions (one appealed) and a frozen wallet."""
    for _ in range(n):
        author = factories.human()
        bot = factories.agent(author.user)
        claim = factories.new_claim(author)
        belief = factories.state(factories.human(), claim, "0.6", rationale="Honest reasoning")
        clarification = claim_clarify(claim=claim, actor=author, text="It means the first one.")
        flagger = factories.human()
        for target_type, target in (
            ("claim", claim),
            ("belief", belief),
            ("identity", bot),
            ("clarification", clarification),
        ):
            services.flag_create(flagger=flagger, target_type=target_type, target_id=target.pk, reason="spam")
        hide = services.moderation_act(
            moderator=moderator, kind="hide", target_type="belief", target_id=belief.pk, reason="Spam"
        )
        services.appeal_file(user=belief.identity.user, action=hide, statement="It is my honest reasoning.")
        services.moderation_act(
            moderator=moderator, kind="freeze", target_type="identity", target_id=author.pk, reason="x"
        )


LISTS = [
    IDENTITIES,
    IDENTITIES + "?flagged=yes&suspended=no&frozen=no&recent=7d",
    CLAIMS,
    CLAIMS + "?flagged=yes&hidden=no",
    CLARIFICATIONS + "?flagged=yes",
    BELIEFS + "?hidden=yes",
    ACCOUNTS + "?frozen=yes",
    FLAGS,
    FLAGS + "?status__exact=upheld&recent=24h",
    ACTIONS,
    APPEALS,
    "/admin/core/auditentry/",
]


def test_the_moderators_lists_make_no_query_per_row(client, moderator):
    def counts() -> dict[str, int]:
        result = {}
        for url in LISTS:
            with CaptureQueriesContext(connection) as captured:
                assert len(shown(client.get(url))) > 0, url
            result[url] = len(captured)
        return result

    _moderated_world(moderator, 1)
    one = counts()
    _moderated_world(moderator, 9)
    assert Flag.objects.count() == 40 and Appeal.objects.count() == 10
    assert counts() == one


# --- The audit trail on an object's page -------------------------------------------------------------------


def test_an_identitys_page_shows_its_history_on_the_audit_trail(client, moderator):
    person = factories.human()
    post_action(client, IDENTITIES, "suspend", [person], reason="Spamming claims")
    post_action(client, IDENTITIES, "freeze", [person], reason="Chargebacks")
    other = factories.human()
    post_action(client, IDENTITIES, "suspend", [other], reason="Not this one")
    page = client.get(f"{IDENTITIES}{person.pk}/change/")
    trail = [entry.action for entry, _ in page.context["audit_trail"]]
    assert trail == ["moderation.freeze", "wallet.freeze", "moderation.suspend", "identity.suspend"]  # newest first
    html = page.content.decode()
    assert "History on the audit trail" in html
    assert "<code>status</code>: active → suspended" in html
    assert "<code>suspended_reason</code>: — → Spamming claims" in html


@pytest.mark.parametrize("kind", ["claim", "clarification", "belief", "account"])
def test_every_moderated_kind_shows_its_trail(client, moderator, kind):
    author = factories.human()
    claim = factories.new_claim(author)
    if kind == "claim":
        url, target = f"{CLAIMS}{claim.pk}/change/", ("claim", claim.pk)
    elif kind == "clarification":
        clarification = claim_clarify(claim=claim, actor=author, text="It means the first one.")
        url, target = f"{CLARIFICATIONS}{clarification.pk}/change/", ("clarification", clarification.pk)
    elif kind == "belief":
        belief = factories.state(factories.human(), claim, "0.6", rationale="Spam")
        url, target = f"{BELIEFS}{belief.pk}/change/", ("belief", belief.pk)
    else:
        url, target = f"{ACCOUNTS}{wallet_for(author).pk}/change/", ("identity", author.pk)
    services.moderation_act(
        moderator=moderator, kind="freeze" if kind == "account" else "hide", target_type=target[0],
        target_id=target[1], reason="On the record",
    )  # fmt: skip
    page = client.get(url)
    assert page.status_code == 200
    trail = [(entry.action, entry.reason) for entry, _ in page.context["audit_trail"]]
    own = "wallet.freeze" if kind == "account" else f"{kind}.hide"
    assert (own, "On the record") in trail
    assert "History on the audit trail" in page.content.decode()


def test_a_staff_member_in_the_moderators_group_moderates_without_being_a_superuser():
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group

    # The group comes from a data migration (made again here if a transactional test flushed the tables).
    importlib.import_module("apps.moderation.migrations.0002_moderators_group").add_group(apps, None)
    moderator = factories.verified_user("group-mod@staff.example.com", is_staff=True)
    moderator.groups.add(Group.objects.get(name="Moderators"))
    browser = signed_in(moderator)
    person = factories.human()
    for url in (
        IDENTITIES,
        CLAIMS,
        CLARIFICATIONS,
        BELIEFS,
        ACCOUNTS,
        FLAGS,
        ACTIONS,
        APPEALS,
        "/admin/core/auditentry/",
    ):
        assert browser.get(url).status_code == 200, url

    post_action(browser, IDENTITIES, "suspend", [person], reason="Spam account")

    person.refresh_from_db()
    assert person.status == IdentityStatus.SUSPENDED
    assert entries()[-2:] == [
        ("identity.suspend", "identities.identity", str(person.pk)),
        ("moderation.suspend", "moderation.moderationaction", str(ModerationAction.objects.get().pk)),
    ]
    # looking, not editing: the objects change only through the actions
    assert browser.get(f"{IDENTITIES}{person.pk}/change/").context["has_change_permission"] is False


def test_staff_without_the_group_see_no_moderation_in_the_admin():
    browser = signed_in(factories.verified_user("bare-staff@staff.example.com", is_staff=True))
    assert browser.get(IDENTITIES).status_code == 403
