"""Moderation in the browser: flagging (the form, its refusals), the flag links and hidden texts on the claim
page as others, the author and staff read them, the staff pages (queue, taking, the leased item, an object's
page) with every action through them (the change, its audit entry, the notification), refused for anyone but
staff with a clear message and nothing written; an action's page and its appeal; my flags; the notices of a
frozen wallet and a suspension; and query counts on the queue that do not grow with the flags."""

import re
from html import unescape

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from apps.core.models import AuditEntry
from apps.identities.models import ApiKey, Identity, IdentityStatus, SuspendedAs
from apps.ledger.models import Account
from apps.ledger.services import wallet_for
from apps.markets.models import Claim, ClaimStatus, Clarification
from apps.moderation import services
from apps.moderation.models import ActionKind, Appeal, AppealStatus, Flag, FlagReason, FlagStatus, ModerationAction
from apps.realtime.models import Notification
from apps.reputation.models import Belief
from apps.reviews import services as reviews
from apps.reviews.models import AssignmentState, RequestState, ReviewAssignment, ReviewRequest
from apps.web.views.moderation import STAFF_ONLY
from tests import factories
from tests.support import signed_in

pytestmark = pytest.mark.django_db

RATIONALE = "Buy now, visit spam.example for cheap pills"
SPAM_NOTE = "An advert for pills, not a forecast."


def text(html: str) -> str:
    """The page's words, tags dropped and spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def words_of(response) -> str:
    return text(response.content.decode())


def moderator_identity(email: str):
    """A staff member with an identity of their own (the queue leases flags and appeals to identities)."""
    return factories.human(factories.verified_user(email, is_staff=True))


def written() -> dict:
    """What moderation writes: compare before and after a refused request."""
    return {
        "flags": list(Flag.objects.order_by("id").values_list("id", "status")),
        "actions": ModerationAction.objects.count(),
        "appeals": list(Appeal.objects.order_by("id").values_list("id", "status")),
        "audit": AuditEntry.objects.count(),
        "reviews": list(ReviewRequest.objects.order_by("id").values_list("id", "state")),
        "assignments": ReviewAssignment.objects.count(),
        "notifications": Notification.objects.filter(kind="moderation").count(),
        "hidden": list(Belief.objects.filter(hidden_at__isnull=False).values_list("id", flat=True)),
        "suspended": list(Identity.objects.filter(status=IdentityStatus.SUSPENDED).values_list("id", flat=True)),
        "frozen": list(Account.objects.filter(frozen_at__isnull=False).values_list("id", flat=True)),
    }


@pytest.fixture
def scene(db):
    author = factories.human()
    claim = factories.new_claim(author)
    believer = factories.human()
    belief = factories.state(believer, claim, "0.7", rationale=RATIONALE)
    flagger = factories.human()
    first = moderator_identity("first@staff.example.com")
    second = moderator_identity("second@staff.example.com")
    return {
        "author": author,
        "claim": claim,
        "believer": believer,
        "belief": belief,
        "flagger": flagger,
        "first": first,
        "second": second,
    }


def flag_url(target_type: str, target_id: int) -> str:
    return reverse("moderation-flag", args=[target_type, target_id])


def flag_belief(scene, flagger=None, reason="spam", note=SPAM_NOTE) -> Flag:
    return services.flag_create(
        flagger=flagger or scene["flagger"],
        target_type="belief",
        target_id=scene["belief"].pk,
        reason=reason,
        note=note,
    )


def hide_belief(scene, reason="Advertising") -> ModerationAction:
    return services.moderation_act(
        moderator=scene["first"].user, kind="hide", target_type="belief", target_id=scene["belief"].pk, reason=reason
    )


# --- Flagging -----------------------------------------------------------------------------------------------


def test_the_flag_form_lists_the_reasons_and_posting_it_flags_the_rationale(scene):
    # given a person reading someone else's rationale
    client = signed_in(scene["flagger"].user)
    url = flag_url("belief", scene["belief"].pk)

    # when they open the flag form
    response = client.get(url)

    # then it says what is flagged and offers every reason, and a note
    assert response.status_code == 200
    html = response.content.decode()
    words = text(html)
    assert f"@{scene['believer'].handle}'s rationale on “{factories.TITLE}”" in words
    for value, label in FlagReason.choices:
        assert f'value="{value}"' in html and label in words
    assert 'name="note"' in html

    # when they flag it as spam, with a note
    response = client.post(url, {"reason": "spam", "note": SPAM_NOTE})

    # then they are back at the rationale, thanked, and the flag waits in the staff queue
    claim_url = reverse("claim-detail", args=[scene["claim"].pk])
    assert (response.status_code, response["Location"]) == (302, f"{claim_url}#belief-{scene['belief'].pk}")
    flag = Flag.objects.get()
    assert (flag.flagger, flag.target_type, flag.target_id, flag.reason, flag.note, flag.status) == (
        scene["flagger"], "belief", scene["belief"].pk, "spam", SPAM_NOTE, FlagStatus.OPEN,
    )  # fmt: skip
    review = ReviewRequest.objects.get(pk=flag.review_id)
    assert (review.checkpoint, review.pool, review.state) == ("moderation.flag", "staff", RequestState.PENDING)
    page = client.get(claim_url)
    assert "Thank you: moderators will look at @" in words_of(page)


def test_flagging_the_same_thing_again_is_refused_readably_and_writes_nothing(scene):
    client = signed_in(scene["flagger"].user)
    flag_belief(scene)
    before = written()

    response = client.post(flag_url("belief", scene["belief"].pk), {"reason": "abuse", "note": ""})

    assert response.status_code == 409
    assert "You have flagged this already; moderators will look at it." in words_of(response)
    assert written() == before


@override_settings(CREDENCE_FLAGS_PER_DAY=1)
def test_the_daily_flag_limit_is_shown_and_writes_nothing(scene):
    client = signed_in(scene["flagger"].user)
    services.flag_create(
        flagger=scene["flagger"], target_type="claim", target_id=scene["claim"].pk, reason="misleading"
    )
    before = written()

    response = client.post(flag_url("belief", scene["belief"].pk), {"reason": "spam", "note": ""})

    assert response.status_code == 429
    assert "You have flagged a lot today: try again tomorrow." in words_of(response)
    assert written() == before


def test_nobody_is_offered_to_flag_their_own_and_a_post_is_refused(scene):
    client = signed_in(scene["believer"].user)
    url = flag_url("belief", scene["belief"].pk)
    before = written()

    page = client.get(url)
    posted = client.post(url, {"reason": "spam", "note": ""})

    for response in (page, posted):
        assert response.status_code == 403
        assert "You cannot flag your own content or identity." in words_of(response)
        assert 'name="reason"' not in response.content.decode()
    assert written() == before


def test_a_flag_form_that_does_not_parse_is_shown_with_its_errors(scene):
    client = signed_in(scene["flagger"].user)
    url = flag_url("claim", scene["claim"].pk)
    before = written()

    missing = client.post(url, {"note": "whatever"})
    other = client.post(url, {"reason": "other", "note": "  "})

    assert missing.status_code == 422 and "Pick what is wrong." in words_of(missing)
    # "Something else" needs a note (the form's rule: the API takes the reason alone)
    assert other.status_code == 422 and "Say what is wrong: you picked “Something else”." in words_of(other)
    assert 'class="field field-invalid"' in other.content.decode()
    assert written() == before


def test_flagging_what_one_may_not_see_is_not_found(scene):
    draft = factories.new_claim(factories.human(), publish=False)
    client = signed_in(scene["flagger"].user)
    assert client.get(flag_url("claim", draft.pk)).status_code == 404
    assert client.get(flag_url("claim", 10**9)).status_code == 404
    assert client.get(flag_url("market", scene["claim"].pk)).status_code == 404
    assert Flag.objects.count() == 0


def test_flagging_needs_signing_in(client, scene):
    response = client.get(flag_url("belief", scene["belief"].pk))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_the_claim_page_offers_flag_on_others_texts_only(scene):
    claim = scene["claim"]
    clarification = Clarification.objects.create(claim=claim, text="June means 30 June.")
    url = reverse("claim-detail", args=[claim.pk])
    claim_flag = flag_url("claim", claim.pk)
    clarification_flag = flag_url("clarification", clarification.pk)
    belief_flag = flag_url("belief", scene["belief"].pk)

    reader = signed_in(scene["flagger"].user).get(url).content.decode()
    believer = signed_in(scene["believer"].user).get(url).content.decode()
    author = signed_in(scene["author"].user).get(url).content.decode()

    assert all(link in reader for link in (claim_flag, clarification_flag, belief_flag))
    assert claim_flag in believer and clarification_flag in believer and belief_flag not in believer
    assert claim_flag not in author and clarification_flag not in author and belief_flag in author
    assert f'id="clarification-{clarification.pk}"' in reader and f'id="belief-{scene["belief"].pk}"' in reader
    assert "Moderate" not in text(reader)


def test_the_claim_page_shows_nothing_to_flag_when_signed_out_and_moderate_to_staff(client, scene):
    url = reverse("claim-detail", args=[scene["claim"].pk])
    anonymous = client.get(url).content.decode()
    staff = signed_in(scene["first"].user).get(url).content.decode()
    assert "/moderation/" not in anonymous
    assert reverse("moderation-target", args=["belief", scene["belief"].pk]) in staff
    assert reverse("moderation-target", args=["claim", scene["claim"].pk]) in staff


def test_an_identity_page_offers_flag_to_others(scene):
    url = reverse("identity-detail", args=[scene["believer"].handle])
    flag = flag_url("identity", scene["believer"].pk)
    assert flag in signed_in(scene["flagger"].user).get(url).content.decode()
    assert flag not in signed_in(scene["believer"].user).get(url).content.decode()
    response = signed_in(scene["flagger"].user).post(flag, {"reason": "impersonation", "note": "Not the real one."})
    assert response["Location"] == url
    assert Flag.objects.get().target_type == "identity"


# --- Staff only ---------------------------------------------------------------------------------------------


def staff_requests(scene, assignment_id: int = 1) -> list[tuple[str, str, dict]]:
    belief, person = scene["belief"].pk, scene["believer"].pk
    return [
        ("get", reverse("moderation-queue"), {}),
        ("post", reverse("moderation-take"), {"checkpoint": "moderation.flag"}),
        ("get", reverse("moderation-target", args=["belief", belief]), {}),
        ("post", reverse("moderation-target-act", args=["belief", belief]), {"action": "hide", "reason": "x"}),
        ("post", reverse("moderation-target-act", args=["identity", person]), {"action": "freeze", "reason": "x"}),
        ("get", reverse("moderation-review", args=[assignment_id]), {}),
        ("post", reverse("moderation-review-act", args=[assignment_id]), {"action": "hide", "reason": "x"}),
    ]  # fmt: skip


def test_the_staff_pages_refuse_anyone_but_staff_with_a_clear_message_and_write_nothing(scene):
    # given a flag a moderator holds, and a person who is not staff
    flag_belief(scene)
    lease = reviews.review_take_next(reviewer=scene["first"], checkpoint="moderation.flag")
    client = signed_in(scene["flagger"].user)
    before = written()

    for method, url, data in staff_requests(scene, lease.pk):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, url
        assert STAFF_ONLY in words_of(response), url
        assert "Staff only" in words_of(response)
    assert written() == before
    assert not Belief.objects.get(pk=scene["belief"].pk).is_hidden


def test_the_staff_pages_send_the_signed_out_to_sign_in(client, scene):
    for method, url, data in staff_requests(scene):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login")), url


def test_staff_see_the_moderation_link_and_others_do_not(scene):
    link = f'href="{reverse("moderation-queue")}" id="nav-moderation"'
    assert link in signed_in(scene["first"].user).get(reverse("home")).content.decode()
    assert link not in signed_in(scene["flagger"].user).get(reverse("home")).content.decode()


def test_a_leased_item_is_its_moderators_alone(scene):
    flag_belief(scene)
    lease = reviews.review_take_next(reviewer=scene["first"], checkpoint="moderation.flag")
    other = signed_in(scene["second"].user)
    before = written()
    assert other.get(reverse("moderation-review", args=[lease.pk])).status_code == 404
    response = other.post(reverse("moderation-review-act", args=[lease.pk]), {"action": "hide", "reason": "Spam"})
    assert response.status_code == 404
    assert written() == before


# --- The queue ----------------------------------------------------------------------------------------------


def test_the_queue_groups_open_flags_by_target_with_reasons_and_lists_appeals(scene):
    # given two flags on the rationale, one on the claim, and an appeal of a freeze
    flag_belief(scene)
    flag_belief(scene, flagger=factories.human(), reason="abuse", note="")
    services.flag_create(flagger=scene["flagger"], target_type="claim", target_id=scene["claim"].pk, reason="duplicate")
    frozen = services.moderation_act(
        moderator=scene["second"].user, kind="freeze", target_type="identity", target_id=scene["author"].pk,
        reason="Chargebacks",
    )  # fmt: skip
    services.appeal_file(user=scene["author"].user, action=frozen, statement="I disputed nothing, please look.")

    response = signed_in(scene["first"].user).get(reverse("moderation-queue"))

    assert response.status_code == 200
    words = words_of(response)
    assert "3 open flags on 2 things." in words and "1 appeal waiting." in words
    groups = [(g.target_type, g.target_id, g.flags, g.reasons) for g in response.context["groups"]]
    assert groups == [
        ("belief", scene["belief"].pk, 2, [("Harassment or abuse", 1), ("Spam or advertising", 1)]),
        ("claim", scene["claim"].pk, 1, [("Duplicate of another claim", 1)]),
    ]
    assert f"@{scene['believer'].handle}'s rationale on “{factories.TITLE}”" in words
    assert f"@{scene['author'].handle} appeals “Freeze the wallet” on @{scene['author'].handle}" in words
    html = response.content.decode()
    assert "Take the next flag" in words and "Take the next appeal" in words
    assert reverse("moderation-target", args=["belief", scene["belief"].pk]) in html


@pytest.mark.parametrize("rows", [1, 10])
def test_the_queue_query_count_does_not_grow_with_the_flags(scene, rows, django_assert_num_queries):
    claim = scene["claim"]
    for n in range(rows):
        believer = factories.human()
        belief = factories.state(believer, claim, "0.6", rationale=f"Reason number {n}")
        services.flag_create(flagger=scene["flagger"], target_type="belief", target_id=belief.pk, reason="spam")
        services.flag_create(flagger=scene["second"], target_type="belief", target_id=belief.pk, reason="abuse")
        frozen = services.moderation_act(
            moderator=scene["second"].user, kind="freeze", target_type="identity", target_id=believer.pk, reason="x"
        )
        services.appeal_file(user=believer.user, action=frozen, statement="Please look at it again.")
    reviews.review_take_next(reviewer=scene["first"], checkpoint="moderation.flag")
    client = signed_in(scene["first"].user)
    # session, user, identity (navigation), navigation balance, navigation reviews waiting; the flags' totals, the
    # groups, their reasons and labels; the appeals waiting and the first of them; the moderator's leases
    with django_assert_num_queries(11):
        response = client.get(reverse("moderation-queue"))
    assert response.status_code == 200
    assert len(response.context["groups"]) == rows and len(response.context["appeals"]) == rows
    assert len(response.context["leases"]) == 1


def test_taking_the_next_flag_opens_it_and_nothing_to_take_says_so(scene):
    flag = flag_belief(scene)
    client = signed_in(scene["first"].user)

    taken = client.post(reverse("moderation-take"), {"checkpoint": "moderation.flag"})

    lease = ReviewAssignment.objects.get()
    assert (lease.request_id, lease.reviewer, lease.state) == (flag.review_id, scene["first"], AssignmentState.LEASED)
    assert taken["Location"] == reverse("moderation-review", args=[lease.pk])

    empty = client.post(reverse("moderation-take"), {"checkpoint": "moderation.appeal"}, follow=True)
    assert empty.redirect_chain == [(reverse("moderation-queue"), 302)]
    assert "Nothing to take: no appeal waits for you now" in words_of(empty)
    assert ReviewAssignment.objects.count() == 1


def test_a_moderator_without_an_identity_is_told_why_they_cannot_take(scene):
    flag_belief(scene)
    client = signed_in(factories.moderator())
    queue = client.get(reverse("moderation-queue"))
    assert "Taking flags and appeals from the queue needs a market identity" in words_of(queue)
    assert "Take the next flag" not in words_of(queue)
    response = client.post(reverse("moderation-take"), {"checkpoint": "moderation.flag"}, follow=True)
    assert "Taking flags and appeals from the queue needs a market identity" in words_of(response)
    assert ReviewAssignment.objects.count() == 0


# --- The leased item ----------------------------------------------------------------------------------------


def test_the_leased_flag_shows_the_object_its_history_the_flaggers_record_and_its_actions(scene):
    # given a flagger who raised one flag before, dismissed, and a flag they raise now
    old = services.flag_create(
        flagger=scene["flagger"], target_type="claim", target_id=scene["claim"].pk, reason="duplicate"
    )
    services.flag_dismiss(moderator=scene["second"].user, flag=old, reason="Not a duplicate")
    flag_belief(scene)
    lease = reviews.review_take_next(reviewer=scene["first"], checkpoint="moderation.flag")

    response = signed_in(scene["first"].user).get(reverse("moderation-review", args=[lease.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    words = text(html)
    assert f"Flagged: @{scene['believer'].handle}'s rationale on “{factories.TITLE}”" in words
    assert RATIONALE in words and SPAM_NOTE in words
    assert "2 flags raised: 0 upheld, 1 dismissed, 1 open" in words
    assert [button["kind"] for button in response.context["buttons"]] == ["hide", "dismiss"]
    assert 'data-shortcut="h" aria-keyshortcuts="h"' in html and 'data-shortcut="d" aria-keyshortcuts="d"' in html
    assert "Hide <kbd>h</kbd>" in html and "Dismiss the flags <kbd>d</kbd>" in html
    assert '<script src="/static/js/moderation.js" defer nonce=' in html
    assert "No moderator has acted on it." in words and "Nothing on the trail yet." in words


def test_hiding_from_the_leased_flag_hides_records_tells_and_settles(scene):
    # given a flag a moderator took from the queue
    flag = flag_belief(scene)
    lease = reviews.review_take_next(reviewer=scene["first"], checkpoint="moderation.flag")
    client = signed_in(scene["first"].user)

    # when they hide the rationale with a reason
    response = client.post(
        reverse("moderation-review-act", args=[lease.pk]), {"action": "hide", "reason": "Advertising"}
    )

    # then they are back at the queue, told what they did
    assert (response.status_code, response["Location"]) == (302, reverse("moderation-queue"))
    assert f"You hid @{scene['believer'].handle}'s rationale" in words_of(client.get(response["Location"]))
    # and the rationale is hidden with the reason, on the audit trail with the request's id and address
    belief = Belief.objects.get(pk=scene["belief"].pk)
    assert (belief.hidden_reason, belief.hidden_by) == ("Advertising", scene["first"].user)
    action = ModerationAction.objects.get()
    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.action, e.object_type, e.object_id, e.actor_id, e.reason) for e in entries] == [
        ("belief.hide", "reputation.belief", str(belief.pk), scene["first"].user_id, "Advertising"),
        ("moderation.hide", "moderation.moderationaction", str(action.pk), scene["first"].user_id, "Advertising"),
    ]
    assert {(e.ip, bool(e.request_id), e.acting_as) for e in entries} == {("127.0.0.1", True, "moderator")}
    assert entries[0].request_id == response["X-Request-ID"]
    # and the believer is told why, with the action's page, where they may appeal
    told = Notification.objects.get(user=scene["believer"].user, kind="moderation")
    assert "Advertising. You may appeal." in told.text and told.link == reverse("moderation-action", args=[action.pk])
    # and the flag is upheld by the action, its review approved on the lease
    flag.refresh_from_db()
    assert (flag.status, flag.action) == (FlagStatus.UPHELD, action)
    assert ReviewRequest.objects.get(pk=flag.review_id).state == RequestState.APPROVED
    reviews.review_resume(request_id=flag.review_id)
    assert Notification.objects.get(user=scene["flagger"].user, kind="moderation").text.endswith(
        "was upheld: moderators hid it."
    )


def test_dismissing_from_the_leased_flag_tells_the_flagger_why(scene):
    flag = flag_belief(scene)
    lease = reviews.review_take_next(reviewer=scene["first"], checkpoint="moderation.flag")
    client = signed_in(scene["first"].user)

    response = client.post(
        reverse("moderation-review-act", args=[lease.pk]), {"action": "dismiss", "reason": "An honest rationale"}
    )

    assert response["Location"] == reverse("moderation-queue")
    assert "You dismissed 1 flag on @" in words_of(client.get(response["Location"]))
    flag.refresh_from_db()
    assert (flag.status, flag.decision_reason) == (FlagStatus.DISMISSED, "An honest rationale")
    assert ReviewRequest.objects.get(pk=flag.review_id).state == RequestState.REJECTED
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.object_id) == ("flag.dismiss", "moderation.flag", str(flag.pk))
    assert not Belief.objects.get(pk=scene["belief"].pk).is_hidden
    reviews.review_resume(request_id=flag.review_id)
    assert Notification.objects.get(user=scene["flagger"].user, kind="moderation").text.endswith(
        "was dismissed: An honest rationale."
    )


def test_an_action_without_a_reason_is_refused_on_its_field_and_writes_nothing(scene):
    flag_belief(scene)
    lease = reviews.review_take_next(reviewer=scene["first"], checkpoint="moderation.flag")
    before = written()

    response = signed_in(scene["first"].user).post(
        reverse("moderation-review-act", args=[lease.pk]), {"action": "hide", "reason": ""}
    )

    assert response.status_code == 422
    assert "Give a reason: the person affected reads it." in words_of(response)
    assert written() == before


# --- Every action from an object's page ---------------------------------------------------------------------


def act(scene, target_type: str, target_id: int, action: str, reason: str, moderator=None, **words):
    client = signed_in((moderator or scene["first"]).user)
    url = reverse("moderation-target-act", args=[target_type, target_id])
    return client.post(url, {"action": action, "reason": reason, **words})


def assert_acted(scene, response, *, target_type, target_id, kind, reason, audit, party):
    """The action's row, its audit entries (the owning app's, then the action's), and the person told."""
    page = reverse("moderation-target", args=[target_type, target_id])
    assert (response.status_code, response["Location"]) == (302, page)
    action = ModerationAction.objects.order_by("-id").first()
    assert (action.kind, action.target_type, action.target_id, action.reason, action.party_id) == (
        kind, target_type, target_id, reason, party.pk,
    )  # fmt: skip
    entries = list(AuditEntry.objects.filter(reason=reason).order_by("id").values_list("action", "actor_id"))
    assert entries == [*((a, scene["first"].user_id) for a in audit), (f"moderation.{kind}", scene["first"].user_id)]
    told = Notification.objects.filter(user=party, kind="moderation").order_by("-id").first()
    assert told.subject == f"moderation:{action.pk}" and f": {reason}." in told.text
    assert told.link == reverse("moderation-action", args=[action.pk])
    return action


def test_an_objects_page_shows_it_with_its_trail_and_the_actions_that_apply(scene):
    hide_belief(scene)
    response = signed_in(scene["first"].user).get(reverse("moderation-target", args=["belief", scene["belief"].pk]))
    assert response.status_code == 200
    words = words_of(response)
    assert "Hidden by moderators: Advertising" in words and RATIONALE in words
    assert [b["kind"] for b in response.context["buttons"]] == ["restore"]
    assert [e.action for e in response.context["trail"]] == ["belief.hide", "moderation.hide"]
    assert "first@staff.example.com as moderator belief.hide reputation.belief #" in words
    assert "Nobody has flagged it." in words


def test_hide_and_restore_a_clarification(scene):
    clarification = Clarification.objects.create(claim=scene["claim"], text="It means the lead author's lab.")
    author = scene["author"].user
    response = act(scene, "clarification", clarification.pk, "hide", "Doxxing a person")
    assert_acted(scene, response, target_type="clarification", target_id=clarification.pk, kind="hide",
                 reason="Doxxing a person", audit=["clarification.hide"], party=author)  # fmt: skip
    assert Clarification.objects.get(pk=clarification.pk).hidden_reason == "Doxxing a person"
    response = act(scene, "clarification", clarification.pk, "restore", "Nothing private after all")
    restored = assert_acted(
        scene, response, target_type="clarification", target_id=clarification.pk, kind="restore",
        reason="Nothing private after all", audit=["clarification.restore"], party=author,
    )  # fmt: skip
    assert not Clarification.objects.get(pk=clarification.pk).is_hidden
    assert restored.reverses.kind == "hide"


def test_hide_a_claim_unlists_it(scene):
    response = act(scene, "claim", scene["claim"].pk, "hide", "Spam claim")
    assert_acted(scene, response, target_type="claim", target_id=scene["claim"].pk, kind="hide",
                 reason="Spam claim", audit=["claim.hide"], party=scene["author"].user)  # fmt: skip
    assert Claim.objects.get(pk=scene["claim"].pk).hidden_reason == "Spam claim"


def test_edit_a_claim_before_trades_and_refused_after_with_nothing_written(scene):
    fresh = factories.new_claim(factories.human())
    title, criteria = "Will the replication succeed by June?", "Resolves YES if the registered replication succeeds."
    response = act(scene, "claim", fresh.pk, "edit", "Misleading title", title=title, criteria=criteria)
    assert_acted(scene, response, target_type="claim", target_id=fresh.pk, kind="edit",
                 reason="Misleading title", audit=["claim.edit"], party=fresh.author.user)  # fmt: skip
    assert Claim.objects.filter(pk=fresh.pk).values_list("title", "criteria").get() == (title, criteria)

    factories.buy(factories.human(), scene["claim"])
    page = signed_in(scene["first"].user).get(reverse("moderation-target", args=["claim", scene["claim"].pk]))
    assert [b["kind"] for b in page.context["buttons"]] == ["hide", "clarify", "void"]
    before = written()
    refused = act(scene, "claim", scene["claim"].pk, "edit", "x", title="Another title entirely", criteria="Other")
    assert refused.status_code == 409
    assert "This claim has trades: its words are fixed. Add a clarification instead." in words_of(refused)
    assert written() == before and Claim.objects.get(pk=scene["claim"].pk).title == factories.TITLE


def test_clarify_a_claim_labelled_as_the_moderators(scene):
    response = act(scene, "claim", scene["claim"].pk, "clarify", "Ambiguous date", text="'June' means 30 June 2027.")
    action = assert_acted(scene, response, target_type="claim", target_id=scene["claim"].pk, kind="clarify",
                          reason="Ambiguous date", audit=["claim.clarify"], party=scene["author"].user)  # fmt: skip
    clarification = Clarification.objects.get(pk=action.detail["clarification"])
    assert clarification.added_by_moderator == scene["first"].user
    page = words_of(Client().get(reverse("claim-detail", args=[scene["claim"].pk])))
    assert "Added by moderators 'June' means 30 June 2027." in page


def test_clarify_without_text_is_refused_on_its_field(scene):
    before = written()
    response = act(scene, "claim", scene["claim"].pk, "clarify", "Ambiguous date", text=" ")
    assert response.status_code == 422 and "Write the clarification to add." in words_of(response)
    assert written() == before


def test_void_a_claim(scene):
    response = act(scene, "claim", scene["claim"].pk, "void", "Cannot be resolved as written")
    assert_acted(scene, response, target_type="claim", target_id=scene["claim"].pk, kind="void",
                 reason="Cannot be resolved as written", audit=["claim.void"], party=scene["author"].user)  # fmt: skip
    assert Claim.objects.get(pk=scene["claim"].pk).status == ClaimStatus.VOIDED


def test_suspend_and_lift_an_identity(scene):
    believer = scene["believer"]
    response = act(scene, "identity", believer.pk, "suspend", "Harassment")
    assert_acted(scene, response, target_type="identity", target_id=believer.pk, kind="suspend",
                 reason="Harassment", audit=["identity.suspend"], party=believer.user)  # fmt: skip
    believer.refresh_from_db()
    assert (believer.status, believer.suspended_as, believer.suspended_reason) == (
        IdentityStatus.SUSPENDED, SuspendedAs.MODERATOR, "Harassment",
    )  # fmt: skip
    page = signed_in(scene["first"].user).get(reverse("moderation-target", args=["identity", believer.pk]))
    assert [b["kind"] for b in page.context["buttons"]] == ["reactivate", "freeze"]
    assert 'data-shortcut="r"' in page.content.decode()
    response = act(scene, "identity", believer.pk, "reactivate", "Cleared")
    assert_acted(scene, response, target_type="identity", target_id=believer.pk, kind="reactivate",
                 reason="Cleared", audit=["identity.reactivate"], party=believer.user)  # fmt: skip
    believer.refresh_from_db()
    assert believer.status == IdentityStatus.ACTIVE


def test_suspend_a_person_with_all_their_agents(scene):
    owner = scene["believer"]
    bot = factories.agent(owner.user)
    response = act(scene, "identity", owner.pk, "suspend_party", "Coordinated manipulation")
    action = assert_acted(scene, response, target_type="identity", target_id=owner.pk, kind="suspend_party",
                          reason="Coordinated manipulation", audit=["identity.suspend", "identity.suspend"],
                          party=owner.user)  # fmt: skip
    assert action.detail == {"agents": [bot.pk]}
    assert set(Identity.objects.filter(pk__in=[owner.pk, bot.pk]).values_list("status", flat=True)) == {"suspended"}


def test_revoke_every_key_of_an_agent(scene):
    bot = factories.agent(scene["believer"].user)
    factories.api_key(bot)
    factories.api_key(bot)
    page = signed_in(scene["first"].user).get(reverse("moderation-target", args=["identity", bot.pk]))
    assert [b["kind"] for b in page.context["buttons"]] == ["suspend", "revoke_keys", "freeze"]
    assert "Live API keys 2" in words_of(page)
    response = act(scene, "identity", bot.pk, "revoke_keys", "Keys leaked in a public repository")
    action = assert_acted(scene, response, target_type="identity", target_id=bot.pk, kind="revoke_keys",
                          reason="Keys leaked in a public repository", audit=["identity.revoke_keys"],
                          party=scene["believer"].user)  # fmt: skip
    assert action.detail == {"revoked": 2}
    assert ApiKey.objects.filter(identity=bot, revoked_at__isnull=True).count() == 0


def test_freeze_and_unfreeze_a_wallet(scene):
    believer = scene["believer"]
    response = act(scene, "identity", believer.pk, "freeze", "Chargebacks")
    assert_acted(scene, response, target_type="identity", target_id=believer.pk, kind="freeze",
                 reason="Chargebacks", audit=["wallet.freeze"], party=believer.user)  # fmt: skip
    wallet = Account.objects.get(pk=wallet_for(believer).pk)
    assert (wallet.frozen_reason, wallet.frozen_by) == ("Chargebacks", scene["first"].user)
    page = signed_in(scene["first"].user).get(reverse("moderation-target", args=["identity", believer.pk]))
    assert [e.action for e in page.context["trail"]] == ["wallet.freeze", "moderation.freeze"]
    response = act(scene, "identity", believer.pk, "unfreeze", "Settled")
    assert_acted(scene, response, target_type="identity", target_id=believer.pk, kind="unfreeze",
                 reason="Settled", audit=["wallet.unfreeze"], party=believer.user)  # fmt: skip
    assert Account.objects.get(pk=wallet.pk).frozen_at is None


def test_an_action_the_target_does_not_allow_is_refused(scene):
    before = written()
    response = act(scene, "belief", scene["belief"].pk, "freeze", "x")
    assert response.status_code == 404
    assert written() == before


def test_dismissing_from_an_objects_page_without_a_lease(scene):
    flag = flag_belief(scene)
    response = act(scene, "belief", scene["belief"].pk, "dismiss", "Fine as it is")
    assert response["Location"] == reverse("moderation-target", args=["belief", scene["belief"].pk])
    flag.refresh_from_db()
    assert flag.status == FlagStatus.DISMISSED
    assert ReviewRequest.objects.get(pk=flag.review_id).state == RequestState.CANCELLED  # withdrawn: nobody held it


# --- An action's page, and the appeal ------------------------------------------------------------------------


def test_the_person_affected_reads_the_action_and_appeals_it_once(scene):
    action = hide_belief(scene)
    client = signed_in(scene["believer"].user)
    url = reverse("moderation-action", args=[action.pk])

    page = client.get(url)

    assert page.status_code == 200
    words = words_of(page)
    assert "Action Hide" in words and "Reason Advertising" in words and RATIONALE in words
    assert 'name="statement"' in page.content.decode()

    response = client.post(reverse("moderation-appeal", args=[action.pk]), {"statement": "My honest reasoning."})

    assert response["Location"] == url
    appeal = Appeal.objects.get()
    assert (appeal.action, appeal.appellant, appeal.statement, appeal.status) == (
        action, scene["believer"], "My honest reasoning.", AppealStatus.OPEN,
    )  # fmt: skip
    review = ReviewRequest.objects.get(pk=appeal.review_id)
    assert (review.checkpoint, review.pool) == ("moderation.appeal", "staff")
    after = client.get(url)
    assert "Status Waiting for a moderator" in words_of(after) and 'name="statement"' not in after.content.decode()
    before = written()
    again = client.post(reverse("moderation-appeal", args=[action.pk]), {"statement": "Please, look again."})
    assert again.status_code == 409
    assert "This action was appealed already: an action may be appealed once." in words_of(again)
    assert written() == before


def test_a_short_statement_is_refused_and_writes_nothing(scene):
    action = hide_belief(scene)
    before = written()
    response = signed_in(scene["believer"].user).post(
        reverse("moderation-appeal", args=[action.pk]), {"statement": "no"}
    )
    assert response.status_code == 422 and "Ensure this value has at least 10 characters" in words_of(response)
    assert written() == before


def test_an_action_about_someone_else_is_not_found_and_staff_read_it(scene):
    action = hide_belief(scene)
    before = written()
    stranger = signed_in(scene["flagger"].user)
    assert stranger.get(reverse("moderation-action", args=[action.pk])).status_code == 404
    posted = stranger.post(reverse("moderation-appeal", args=[action.pk]), {"statement": "Let me appeal it too."})
    assert posted.status_code == 404
    assert written() == before
    staff = signed_in(scene["second"].user).get(reverse("moderation-action", args=[action.pk]))
    assert staff.status_code == 200 and "Only the person it is about may appeal." in words_of(staff)


def test_a_final_action_says_why_it_cannot_be_appealed(scene):
    bot = factories.agent(scene["believer"].user)
    factories.api_key(bot)
    action = services.moderation_act(
        moderator=scene["first"].user, kind="revoke_keys", target_type="identity", target_id=bot.pk, reason="Leaked"
    )
    page = signed_in(scene["believer"].user).get(reverse("moderation-action", args=[action.pk]))
    assert "“Revoke all API keys” cannot be appealed: its owner can make new keys." in words_of(page)


def test_a_second_moderator_grants_the_appeal_from_the_queue_and_it_is_undone(scene):
    # given a hidden rationale its author appealed
    action = hide_belief(scene)
    appeal = services.appeal_file(user=scene["believer"].user, action=action, statement="My honest reasoning.")
    first, second = signed_in(scene["first"].user), signed_in(scene["second"].user)

    # then the moderator who hid it has nothing to take
    nothing = first.post(reverse("moderation-take"), {"checkpoint": "moderation.appeal"}, follow=True)
    assert "Nothing to take: no appeal waits for you now" in words_of(nothing)

    # when another takes it: the appeal reads with the action, its reason and the statement
    taken = second.post(reverse("moderation-take"), {"checkpoint": "moderation.appeal"})
    lease = ReviewAssignment.objects.get(reviewer=scene["second"])
    assert taken["Location"] == reverse("moderation-review", args=[lease.pk])
    page = second.get(taken["Location"])
    words = words_of(page)
    assert "An appeal of “Hide”" in words and "Their reason Advertising" in words
    assert "My honest reasoning." in words and "Grant: undo it (restore)" in words and RATIONALE in words

    # and grants it
    response = second.post(reverse("moderation-review-act", args=[lease.pk]), {"decision": "approve", "reason": "Fair"})

    assert response["Location"] == reverse("moderation-queue")
    assert "You granted appeal #" in words_of(second.get(response["Location"]))
    assert ReviewRequest.objects.get(pk=appeal.review_id).state == RequestState.APPROVED
    # then, once the continuation runs (a Celery task in production), the rationale is restored by them
    reviews.review_resume(request_id=appeal.review_id)
    appeal.refresh_from_db()
    assert (appeal.status, appeal.decided_by, appeal.decision_reason) == (
        AppealStatus.GRANTED, scene["second"].user, "Fair",
    )  # fmt: skip
    assert not Belief.objects.get(pk=scene["belief"].pk).is_hidden
    undone = ModerationAction.objects.get(reverses=action)
    assert (undone.kind, undone.moderator) == (ActionKind.RESTORE, scene["second"].user)
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "belief.hide", "moderation.hide", "belief.restore", "moderation.restore",
    ]  # fmt: skip
    mine = words_of(signed_in(scene["believer"].user).get(reverse("moderation-action", args=[action.pk])))
    assert "Status Granted: the action was undone" in mine and "Answer Fair" in mine


def test_denying_an_appeal_needs_a_reason(scene):
    action = hide_belief(scene)
    appeal = services.appeal_file(user=scene["believer"].user, action=action, statement="My honest reasoning.")
    lease = reviews.review_take_next(reviewer=scene["second"], checkpoint="moderation.appeal")
    client = signed_in(scene["second"].user)
    before = written()

    refused = client.post(reverse("moderation-review-act", args=[lease.pk]), {"decision": "reject", "reason": ""})

    assert refused.status_code == 422 and "Say why the action stands: the person reads it." in words_of(refused)
    assert written() == before
    denied = client.post(reverse("moderation-review-act", args=[lease.pk]), {"decision": "reject", "reason": "An ad"})
    assert denied.status_code == 302
    reviews.review_resume(request_id=appeal.review_id)
    appeal.refresh_from_db()
    assert appeal.status == AppealStatus.DENIED and Belief.objects.get(pk=scene["belief"].pk).is_hidden


# --- Hidden texts as others, their author and staff read them ------------------------------------------------


def test_a_hidden_rationale_shows_the_reason_to_others_the_text_to_its_author_and_staff(client, scene):
    # given a rationale moderators hid
    action = hide_belief(scene, reason="Advertising pills")
    url = reverse("claim-detail", args=[scene["claim"].pk])
    notice = "Hidden by moderators: Advertising pills"
    why = reverse("moderation-why", args=["belief", scene["belief"].pk])

    # then a visitor and another person read the reason, not the text
    for reader in (client, signed_in(scene["flagger"].user)):
        words = words_of(reader.get(url))
        assert notice in words and RATIONALE not in words and "Only you see the text." not in words
    # and its author reads their text with the reason and the way to appeal
    author = signed_in(scene["believer"].user)
    html = author.get(url).content.decode()
    assert notice in text(html) and RATIONALE in text(html) and "Only you see the text." in text(html)
    assert f'href="{why}?kind=hide"' in html
    assert author.get(f"{why}?kind=hide")["Location"] == reverse("moderation-action", args=[action.pk])
    # and staff read the text with the reason and the object's moderation page
    html = signed_in(scene["second"].user).get(url).content.decode()
    assert notice in text(html) and RATIONALE in text(html) and "Staff see the text." in text(html)
    assert f'href="{reverse("moderation-target", args=["belief", scene["belief"].pk])}"' in html
    # and the live region the page refreshes says the same
    section = reverse("claim-section", args=[scene["claim"].pk, "beliefs"])
    assert RATIONALE not in words_of(client.get(section)) and notice in words_of(client.get(section))
    # and nobody else has an action there
    assert signed_in(scene["flagger"].user).get(why).status_code == 404


def test_a_hidden_clarification_likewise_and_a_moderators_is_labelled(client, scene):
    claim = scene["claim"]
    clarification = Clarification.objects.create(claim=claim, text="The lead author lives at 5 Main St.")
    services.moderation_act(
        moderator=scene["first"].user, kind="hide", target_type="clarification", target_id=clarification.pk,
        reason="Private information",
    )  # fmt: skip
    services.moderation_act(
        moderator=scene["first"].user, kind="clarify", target_type="claim", target_id=claim.pk,
        reason="Ambiguous", text="The lab is the lead author's.",
    )  # fmt: skip
    url = reverse("claim-detail", args=[claim.pk])
    notice = "Hidden by moderators: Private information"

    others = words_of(client.get(url))
    author = words_of(signed_in(scene["author"].user).get(url))
    staff = words_of(signed_in(scene["second"].user).get(url))

    assert notice in others and "5 Main St" not in others
    assert notice in author and "5 Main St" in author and "Only you see the text." in author
    assert notice in staff and "5 Main St" in staff
    assert "Added by moderators The lab is the lead author's." in others


def test_a_hidden_claim_is_unlisted_for_everyone_and_its_page_says_why(client, scene):
    kept = factories.new_claim(scene["author"], title="Will the other study replicate?")
    services.moderation_act(
        moderator=scene["first"].user, kind="hide", target_type="claim", target_id=scene["claim"].pk,
        reason="A duplicate of another claim",
    )  # fmt: skip

    for reader in (client, signed_in(scene["author"].user), signed_in(scene["first"].user)):
        listed = reader.get(reverse("home"))
        assert [c.pk for c in listed.context["claims"]] == [kept.pk]
        searched = reader.get(reverse("home"), {"q": "experiment"})
        assert list(searched.context["claims"]) == []
    api = client.get("/api/v1/claims").json()
    assert [c["id"] for c in api["items"]] == [kept.pk]

    page = client.get(reverse("claim-detail", args=[scene["claim"].pk]))
    assert page.status_code == 200
    words = words_of(page)
    assert "Hidden by moderators: A duplicate of another claim" in words
    assert "It is unlisted: out of the claim list and search." in words


# --- People's pages and notices ------------------------------------------------------------------------------


def test_my_flags_say_how_each_ended(scene):
    dismissed = services.flag_create(
        flagger=scene["flagger"], target_type="claim", target_id=scene["claim"].pk, reason="duplicate"
    )
    services.flag_dismiss(moderator=scene["first"].user, flag=dismissed, reason="Not a duplicate: other dates")
    flag_belief(scene)
    hide_belief(scene)
    bot = factories.agent(scene["flagger"].user)
    services.flag_create(flagger=bot, target_type="identity", target_id=scene["author"].pk, reason="impersonation")

    response = signed_in(scene["flagger"].user).get(reverse("moderation-my-flags"))

    assert response.status_code == 200
    rows = [text(row) for row in re.findall(r"<tr id=\"flag-\d+\">(.*?)</tr>", response.content.decode(), re.S)]
    assert len(rows) == 3
    assert rows[0].startswith(f"@{scene['author'].handle} by your agent @{bot.handle} Impersonation")
    assert rows[0].endswith("Open Waiting for a moderator.")
    assert rows[1].startswith(f"@{scene['believer'].handle}'s rationale") and rows[1].endswith(
        "Upheld Moderators acted: hide."
    )
    assert rows[2].startswith(f"The claim “{factories.TITLE}” Duplicate") and rows[2].endswith(
        "Dismissed Not a duplicate: other dates"
    )
    assert "You have flagged nothing." in words_of(signed_in(scene["author"].user).get(reverse("moderation-my-flags")))


def test_a_frozen_wallet_and_a_suspension_are_told_on_every_page_of_the_person_with_the_way_to_appeal(scene):
    # given a person whose wallet moderators froze and whom they suspended
    believer = scene["believer"]
    client = signed_in(believer.user)
    assert "frozen" not in words_of(client.get(reverse("wallet")))
    frozen = services.moderation_act(
        moderator=scene["first"].user,
        kind="freeze",
        target_type="identity",
        target_id=believer.pk,
        reason="Chargebacks",
    )
    suspended = services.moderation_act(
        moderator=scene["first"].user, kind="suspend", target_type="identity", target_id=believer.pk, reason="Spam"
    )

    # then their wallet page, and any other, says so
    for page in (reverse("wallet"), reverse("home")):
        html = client.get(page).content.decode()
        words = text(html)
        assert "Your wallet is frozen by moderators: Chargebacks" in words
        assert "Nothing can be spent from it: no trades, no funding of agents." in words
        assert "Your identity is suspended by moderators: Spam" in words
    # and each links to its action, where they may appeal
    why = reverse("moderation-why", args=["identity", believer.pk])
    assert f'href="{why}?kind=freeze"' in html and f'href="{why}?kind=suspend"' in html
    assert client.get(f"{why}?kind=freeze")["Location"] == reverse("moderation-action", args=[frozen.pk])
    assert client.get(f"{why}?kind=suspend")["Location"] == reverse("moderation-action", args=[suspended.pk])
    # and nobody else reads it
    assert "frozen" not in words_of(signed_in(scene["flagger"].user).get(reverse("home")))


def test_a_frozen_agent_wallet_is_told_on_the_agent_page(scene):
    owner = scene["believer"].user
    bot = factories.agent(owner)
    frozen = services.moderation_act(
        moderator=scene["first"].user, kind="freeze", target_type="identity", target_id=bot.pk, reason="Wash trading"
    )
    client = signed_in(owner)
    html = client.get(reverse("agent-detail", args=[bot.pk])).content.decode()
    assert "This agent\u2019s wallet is frozen by moderators: Wash trading" in text(html)
    why = reverse("moderation-why", args=["identity", bot.pk])
    assert f'href="{why}?kind=freeze"' in html
    assert client.get(f"{why}?kind=freeze")["Location"] == reverse("moderation-action", args=[frozen.pk])
    assert "Your wallet is frozen" not in text(html)  # the owner's own is not


def test_staff_following_a_notice_land_on_the_objects_page_and_other_leases_open_on_the_reviews_page(scene):
    client = signed_in(scene["first"].user)
    why = client.get(reverse("moderation-why", args=["belief", scene["belief"].pk]))
    assert why["Location"] == reverse("moderation-target", args=["belief", scene["belief"].pk])
    question = reviews.review_ask(
        requester=factories.agent(scene["flagger"].user), question="Is it sound?", context={},
        answer_schema={"type": "boolean"}, pool="staff", pool_scope="", reviewers_required=1, agreement="first",
        timeout_seconds=3600, timeout_answer=None, price=0, idempotency_key="ask-staff",
    )  # fmt: skip
    lease = reviews.review_take_next(reviewer=scene["first"])
    assert lease.request_id == question.pk
    response = client.get(reverse("moderation-review", args=[lease.pk]))
    assert response["Location"] == reverse("review-assignment", args=[lease.pk])


def test_acting_again_on_what_is_already_so_is_refused_and_writes_nothing(scene):
    # given a rationale a moderator hid while another had its page open (with its Hide button)
    hide_belief(scene)
    before = written()

    response = act(scene, "belief", scene["belief"].pk, "hide", "Spam", moderator=scene["second"])

    assert response.status_code == 409
    assert "It is already so: nothing was changed (another moderator may have just done it)." in words_of(response)
    assert written() == before
