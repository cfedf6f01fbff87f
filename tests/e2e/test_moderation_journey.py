"""Moderation in Chromium, end to end: a person flags a rationale from the claim page; a moderator takes the flag
from the moderation queue and hides the rationale with the keyboard (the reason typed, then "h"); its author reads
the reason beside their text and appeals; the moderator who hid it has no appeal to take, a second one takes it and
grants it, and the rationale is back for everyone.

There is no Celery worker here: the server queues each decided review's continuation on a broker nobody reads, and
the test runs it with review_resume, as the worker would (as tests/e2e/test_review_journeys.py does). The ORM
arranges where the journey starts and checks the rows afterwards; every step under test is taken through the pages.
"""

import pytest
from playwright.sync_api import expect

from apps.core.models import AuditEntry
from apps.moderation.models import ActionKind, Appeal, AppealStatus, Flag, FlagStatus, ModerationAction
from apps.realtime.models import Notification
from apps.reputation.models import Belief
from apps.reviews import services as reviews
from apps.reviews.models import RequestState, ReviewRequest
from tests import factories
from tests.factories import new_claim

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
WAIT = 15_000  # ms
RATIONALE = "Buy now at spam.example: cheap pills, the best forecast money can buy."
REASON = "Advertising cheap pills, not a forecast"
STATEMENT = "It is my honest reasoning: I linked the source I read, not a shop."


def _moderator(email: str):
    """A staff member with an identity of their own (the queue leases flags and appeals to identities)."""
    return factories.human(factories.verified_user(email, is_staff=True))


def test_a_flagged_rationale_is_hidden_from_the_queue_appealed_and_restored_by_a_second_moderator(open_page):
    # given a claim with a stated belief whose rationale is an advert, a reader, and two moderators
    claim = new_claim(factories.human(), factories.domain())
    believer = factories.human()
    belief = factories.state(believer, claim, "0.7", rationale=RATIONALE)
    reader = factories.human()
    first, second = _moderator("first@staff.example.com"), _moderator("second@staff.example.com")
    claim_path = f"/claims/{claim.pk}/"
    in_belief = f"#belief-{belief.pk}"

    # when the reader flags the rationale from the claim page
    page = open_page(reader.user, claim_path)
    expect(page.locator(in_belief)).to_contain_text(RATIONALE)
    page.locator(in_belief).get_by_role("link", name="Flag this rationale").click()
    page.wait_for_url(f"**/moderation/flag/belief/{belief.pk}/")
    expect(page.locator("#flag-target")).to_have_text(f"@{believer.handle}'s rationale on “{claim.title}”")
    page.get_by_role("radio", name="Spam or advertising").check()
    page.get_by_label("Note for the moderators").fill("An advert for pills.")
    page.get_by_role("button", name="Flag it").click()

    # then they are back at the rationale, thanked, and the flag waits for staff
    page.wait_for_url(f"**{claim_path}#belief-{belief.pk}")
    expect(page.locator(".messages")).to_contain_text("Thank you: moderators will look at @")
    flag = Flag.objects.get()
    assert (flag.flagger, flag.reason, flag.status) == (reader, "spam", FlagStatus.OPEN)

    # when the first moderator opens the queue and takes the next flag
    queue = open_page(first.user, "/moderation/")
    expect(queue.locator("#moderation-flag-queue .review-count")).to_have_text("1 open flag on 1 thing.")
    expect(queue.locator("#flag-groups tbody tr")).to_contain_text("Spam or advertising")
    queue.get_by_role("button", name="Take the next flag").click()
    queue.wait_for_url("**/moderation/review/*/")

    # then the item shows the rationale in full, the flag, the flagger's record and the actions with their keys
    expect(queue.get_by_role("heading", level=1)).to_have_text(
        f"Flagged: @{believer.handle}'s rationale on “{claim.title}”"
    )
    expect(queue.locator("#object-rationale")).to_contain_text(RATIONALE)
    expect(queue.locator("#flagger-record")).to_have_text("1 flag raised: 0 upheld, 0 dismissed, 1 open")
    expect(queue.locator(".moderation-buttons button")).to_have_text(["Hide h", "Dismiss the flags d"])

    # when they type the reason (its letters, an "h" among them, type into the field and press nothing), leave
    # the field with Esc and press "h"
    reason_field = queue.get_by_label("Reason")
    reason_field.press_sequentially(REASON)
    expect(reason_field).to_have_value(REASON)
    assert "/moderation/review/" in queue.url and not Belief.objects.get(pk=belief.pk).is_hidden
    reason_field.press("Escape")
    queue.keyboard.press("h")

    # then the rationale is hidden, and the moderator is back at the queue, told so, with nothing left to take
    queue.wait_for_url("**/moderation/")
    expect(queue.locator(".messages")).to_contain_text(f"You hid @{believer.handle}'s rationale")
    expect(queue.locator("#moderation-flag-queue .review-count")).to_have_text("0 open flags on 0 things.")
    belief.refresh_from_db()
    assert (belief.is_hidden, belief.hidden_reason, belief.hidden_by) == (True, REASON, first.user)
    hide = ModerationAction.objects.get()
    flag.refresh_from_db()
    assert (flag.status, flag.action) == (FlagStatus.UPHELD, hide)
    reviews.review_resume(request_id=flag.review_id)  # the flag's continuation tells the reader, as the worker would
    assert Notification.objects.get(user=reader.user, kind="moderation").text.endswith("was upheld: moderators hid it.")

    # and the reader, reloading the claim page, reads the reason and not the text
    page.reload()
    expect(page.locator(in_belief)).to_contain_text(f"Hidden by moderators: {REASON}")
    expect(page.locator(in_belief)).not_to_contain_text(RATIONALE)

    # when the author opens the claim page: their text, the reason, and the way to appeal
    author = open_page(believer.user, claim_path)
    expect(author.locator(in_belief)).to_contain_text(f"Hidden by moderators: {REASON}")
    expect(author.locator(in_belief)).to_contain_text("Only you see the text.")
    expect(author.locator(in_belief)).to_contain_text(RATIONALE)
    author.locator(in_belief).get_by_role("link", name="Why, and how to appeal").click()
    author.wait_for_url(f"**/moderation/actions/{hide.pk}/")
    expect(author.locator("#action-reason")).to_have_text(REASON)
    # and appeals
    author.get_by_label("Why should it be undone?").fill(STATEMENT)
    author.get_by_role("button", name="Appeal").click()

    # then the appeal waits for a moderator
    author.wait_for_url(f"**/moderation/actions/{hide.pk}/")
    expect(author.locator(".messages")).to_contain_text("Your appeal is filed")
    expect(author.locator("#appeal-status")).to_have_text("Waiting for a moderator")
    appeal = Appeal.objects.get()
    assert (appeal.action, appeal.appellant, appeal.statement) == (hide, believer, STATEMENT)

    # when the moderator who hid it asks for the next appeal, there is none for them
    queue.reload()
    expect(queue.locator("#open-appeals-count")).to_have_text("1")
    queue.get_by_role("button", name="Take the next appeal").click()
    queue.wait_for_url("**/moderation/")
    expect(queue.locator(".messages")).to_contain_text("Nothing to take: no appeal waits for you now")

    # and a second moderator takes it: the action, its reason and the statement
    other = open_page(second.user, "/moderation/")
    other.get_by_role("button", name="Take the next appeal").click()
    other.wait_for_url("**/moderation/review/*/")
    expect(other.get_by_role("heading", level=1)).to_have_text("An appeal of “Hide”")
    expect(other.locator("#appeal-action-reason")).to_have_text(REASON)
    expect(other.locator("#appeal-statement")).to_contain_text(STATEMENT)
    expect(other.locator("#object-rationale")).to_contain_text(RATIONALE)
    # and grants it with a reason
    other.get_by_label("Reason").fill("A source, not an advert")
    other.get_by_role("button", name="Grant: undo it (restore)").click()
    other.wait_for_url("**/moderation/")
    expect(other.locator(".messages")).to_contain_text(f"You granted appeal #{appeal.pk}")
    assert ReviewRequest.objects.get(pk=appeal.review_id).state == RequestState.APPROVED

    # when the appeal's continuation runs (the worker's job; none runs here)
    reviews.review_resume(request_id=appeal.review_id)

    # then the author's action page says it was granted, and why
    author.reload()
    expect(author.locator("#appeal-status")).to_have_text("Granted: the action was undone")
    expect(author.locator("#appeal-answer")).to_contain_text("A source, not an advert")
    # and everyone reads the rationale again, without a notice
    page.reload()
    expect(page.locator(in_belief)).to_contain_text(RATIONALE)
    expect(page.locator(in_belief)).not_to_contain_text("Hidden by moderators")

    # and the rows say so: the belief shown, the appeal granted by the second moderator, the trail in order
    belief.refresh_from_db()
    appeal.refresh_from_db()
    assert (belief.is_hidden, belief.hidden_reason, belief.hidden_by) == (False, "", None)
    assert (appeal.status, appeal.decided_by, appeal.decision_reason) == (
        AppealStatus.GRANTED,
        second.user,
        "A source, not an advert",
    )
    restore = ModerationAction.objects.get(reverses=hide)
    assert (restore.kind, restore.moderator) == (ActionKind.RESTORE, second.user)
    trail = list(AuditEntry.objects.order_by("id").values_list("action", "object_type", "object_id", "actor_id"))
    assert trail == [
        ("belief.hide", "reputation.belief", str(belief.pk), first.user_id),
        ("moderation.hide", "moderation.moderationaction", str(hide.pk), first.user_id),
        ("belief.restore", "reputation.belief", str(belief.pk), second.user_id),
        ("moderation.restore", "moderation.moderationaction", str(restore.pk), second.user_id),
    ]
    assert AuditEntry.objects.filter(action="belief.hide").get().ip == "127.0.0.1"
    assert (
        list(
            Notification.objects.filter(user=believer.user, kind="moderation")
            .order_by("id")
            .values_list("text", flat=True)
        )[-1]
        == "Your appeal was granted: moderators undid “Hide”."
    )
