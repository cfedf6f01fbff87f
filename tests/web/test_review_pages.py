"""The reviewer's pages (the queue, taking, an assignment and its decision) and the requester's (my requests,
one request's timeline, cancelling): who sees what, the decision form drawn from the request's schemas, the
statuses of a refused decision with nothing written, and query counts that do not grow with the rows."""

import re
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from apps.accounts.models import VerificationLevel
from apps.core.amounts import CREDIT
from apps.identities.models import AutonomyLevel
from apps.ledger.selectors import wallet_balance
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from apps.reviews import services
from apps.reviews.models import ReviewAssignment, ReviewDecision, ReviewEvent, ReviewRequest
from apps.web.forms.reviews import DecisionForm
from tests import factories
from tests.support import HTMX, signed_in

pytestmark = pytest.mark.django_db

BUY_20 = Order(kind="buy", side="yes", amount=20 * CREDIT)
PRICE = 3 * CREDIT
YES_NO = {"type": "string", "enum": ["yes", "no"]}
FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["sound", "flawed"], "title": "Verdict"},
        "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
        "replicated": {"type": "boolean"},
        "note": {"type": "string", "maxLength": 80},
    },
    "required": ["verdict", "confidence"],
}


@pytest.fixture
def claim():
    return factories.new_claim(factories.human(), factories.domain())


@pytest.fixture
def careful_bot(owner):
    return factories.funded_agent(owner, handle="careful-bot", autonomy_level=AutonomyLevel.SUPERVISED)


@pytest.fixture
def me(owner):
    return factories.human(owner)


@pytest.fixture
def paused(careful_bot, claim) -> ReviewRequest:
    """A supervised agent's order, waiting for its owner."""
    return trade_place(identity=careful_bot, claim=claim, order=BUY_20, idempotency_key="o-1").review


def ask(requester, *, key="ask-1", schema=None, context=None, price=PRICE) -> ReviewRequest:
    return services.review_ask(
        requester=requester,
        question="Is the source reliable?",
        context=context if context is not None else {"url": "https://example.org/report"},
        answer_schema=schema or YES_NO,
        pool="owner",
        pool_scope="",
        reviewers_required=1,
        agreement="first",
        timeout_seconds=3600,
        timeout_answer=None,
        price=price,
        idempotency_key=key,
    )


def take(reviewer) -> ReviewAssignment:
    return services.review_take_next(reviewer=reviewer)


def decide_url(assignment) -> str:
    return reverse("review-decide", args=[assignment.pk])


def assignment_url(assignment) -> str:
    return reverse("review-assignment", args=[assignment.pk])


def written(review) -> dict:
    """What a decision writes: compare before and after a refused one."""
    return {
        "state": ReviewRequest.objects.get(pk=review.pk).state,
        "decisions": ReviewDecision.objects.filter(request=review).count(),
        "events": list(ReviewEvent.objects.filter(request=review).order_by("id").values_list("kind", flat=True)),
        "assignments": list(ReviewAssignment.objects.filter(request=review).values_list("state", flat=True)),
    }


def text(html: str) -> str:
    """The page's words, tags dropped and spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def assert_no_inline_style_or_script(html: str) -> None:
    assert " style=" not in html and " onclick=" not in html
    body = html.split("</head>", 1)[-1]
    assert not re.search(r"<script(?![^>]*\bsrc=)", body), "an inline <script> in the body"
    assert "<style" not in html


# --- The queue ---------------------------------------------------------------------------------------------------


def test_the_queue_shows_what_waits_by_kind_with_the_next_ones(owner_client, paused, careful_bot, me):
    question = ask(careful_bot)
    response = owner_client.get(reverse("review-queue"))
    assert response.status_code == 200
    html = response.content.decode()
    words = text(html)
    assert "2 reviews wait for you." in words
    assert [(g["checkpoint"], g["label"], g["scope"], g["waiting"]) for g in response.context["groups"]] == [
        ("explicit", "An agent asks a person", "", 1),
        ("trade.place", "An order", "", 1),
    ]
    # soonest due first: the question waits an hour, the order a day
    assert [r.pk for r in response.context["first"]] == [question.pk, paused.pk]
    assert factories.TITLE in words and "Is the source reliable? An agent asks a person · due" in words
    assert "pays 3 credits" in words
    assert '<input type="hidden" name="checkpoint" value="trade.place">' in html
    # the count region asks for itself again when a notification arrives
    assert 'hx-trigger="credence:notifications from:body" hx-target="this" hx-swap="outerHTML"' in html
    assert "You hold no review now." in words and "You have decided nothing yet." in words
    assert_no_inline_style_or_script(html)


def test_the_count_region_answers_htmx_alone(owner_client, paused):
    response = owner_client.get(reverse("review-queue"), HTTP_HX_TARGET="review-waiting", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card" id="review-waiting"')
    assert "<html" not in html and "1 review waits for you." in text(html)


def test_the_nav_counts_what_waits_for_me(owner_client, paused):
    html = owner_client.get(reverse("home")).content.decode()
    assert '<span class="pill" id="nav-reviews">1<span class="visually-hidden"> waiting</span></span>' in html


def test_nothing_waits_for_someone_else(stranger_client, paused):
    response = stranger_client.get(reverse("review-queue"))
    assert response.status_code == 200
    assert response.context["waiting"] == 0
    assert "Nothing waits for you." in text(response.content.decode())
    assert 'id="nav-reviews"' not in response.content.decode()


def test_a_person_without_an_identity_is_told_to_verify(paused):
    client = signed_in(factories.UserFactory())
    response = client.get(reverse("review-queue"))
    assert response.status_code == 200
    assert "Verify your email address first: reviewing needs a market identity." in response.content.decode()
    assert client.get(reverse("my-reviews")).status_code == 200


@pytest.mark.parametrize(
    "name,args,method",
    [
        ("review-queue", [], "get"),
        ("review-take", [], "post"),
        ("review-assignment", [1], "get"),
        ("review-decide", [1], "post"),
        ("my-reviews", [], "get"),
        ("my-review", [1], "get"),
        ("my-review-cancel", [1], "post"),
    ],
)
def test_every_page_needs_a_signed_in_person(client, name, args, method):
    url = reverse(name, args=args)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


def test_take_the_next_one_leases_it_and_opens_it(owner_client, paused, me):
    response = owner_client.post(reverse("review-take"))
    assignment = ReviewAssignment.objects.get()
    assert (assignment.request_id, assignment.reviewer_id, assignment.state) == (paused.pk, me.pk, "leased")
    assert response.status_code == 302 and response["Location"] == assignment_url(assignment)
    # and the queue lists it in progress, and nothing else waits
    page = owner_client.get(reverse("review-queue"))
    assert [lease.pk for lease in page.context["leases"]] == [assignment.pk]
    assert f'<a href="{assignment_url(assignment)}">{factories.TITLE}</a>' in page.content.decode()
    again = owner_client.post(reverse("review-take"), follow=True)
    assert again.redirect_chain == [(reverse("review-queue"), 302)]
    assert "Nothing waits for you now." in again.content.decode()
    assert ReviewAssignment.objects.count() == 1


def test_take_filters_by_checkpoint(owner_client, paused, careful_bot):
    question = ask(careful_bot)
    response = owner_client.post(reverse("review-take"), {"checkpoint": "explicit"})
    assert ReviewAssignment.objects.get().request_id == question.pk
    assert response["Location"] == assignment_url(ReviewAssignment.objects.get())
    assert owner_client.post(reverse("review-take"), {"checkpoint": "no.such"}).status_code == 404


# --- An assignment ---------------------------------------------------------------------------------------------


def test_a_paused_order_reads_as_a_trade_ticket_with_why_it_fired(owner_client, paused, careful_bot, claim, me):
    assignment = take(me)
    response = owner_client.get(assignment_url(assignment))
    assert response.status_code == 200
    html = response.content.decode()
    words = text(html)
    assert f'<a href="/claims/{claim.pk}/">{factories.TITLE}</a>' in html
    assert "Order Buy YES Amount 20 credits" in words
    assert "Limit none: any price" in words
    assert "Agent @careful-bot owned by @" + me.handle in words
    assert "Price of YES when asked 50% Held for it 20 credits" in words
    assert "@careful-bot is supervised: its owner reviews every order it places." in words
    # the decision forms the request allows, in its order: approve, edit (from its schema), reject
    assert [f.kind for f in response.context["forms"]] == ["approve", "edit", "reject"]
    assert re.search(
        r'<input type="number" name="edit-amount" value="20" step="0.000001" min="0.000001" max="20"', html
    )
    assert 'name="edit-limit_price"' in html and 'pattern="^0?\\.[0-9]{1,6}$"' in html
    assert '<label for="id_edit-amount">Amount (credits)</label>' in html
    assert '<label for="id_reject-reason">Reason <span class="required-mark">(required)</span></label>' in html
    assert "Decide before" in words
    assert_no_inline_style_or_script(html)


def test_someone_elses_assignment_is_not_found(stranger_client, stranger, paused, me):
    assignment = take(me)
    before = written(paused)
    assert stranger_client.get(assignment_url(assignment)).status_code == 404
    response = stranger_client.post(decide_url(assignment), {"decision": "approve"})
    assert response.status_code == 404
    assert written(paused) == before


def test_an_explicit_question_shows_its_context_as_json(owner_client, careful_bot, me):
    ask(careful_bot, context={"url": "https://example.org/report", "pages": [1, 2]})
    assignment = take(me)
    html = owner_client.get(assignment_url(assignment)).content.decode()
    assert "<p>Is the source reliable?</p>" in html
    assert (
        '<pre class="review-json">{\n  &quot;url&quot;: &quot;https://example.org/report&quot;,\n'
        "  &quot;pages&quot;: [\n    1,\n    2\n  ]\n}</pre>"
    ) in html
    assert "@careful-bot asked." in text(html)
    # a yes/no answer is two radio buttons
    assert '<input type="radio" name="answer-value" value="yes" id="id_answer-value_0" required> yes' in html
    assert '<input type="radio" name="answer-value" value="no" id="id_answer-value_1" required> no' in html


def _dispute(claim, reviewer_count=1) -> ReviewRequest:
    challenger = factories.human()
    return factories.paused(
        challenger,
        checkpoint="resolution.dispute",
        subject=f"claim:{claim.pk}",
        payload={
            "claim": claim.pk,
            "claim_title": claim.title,
            "criteria": claim.criteria,
            "proposed_outcome": "yes",
            "proposal_evidence": "The paper reports p = 0.01.",
            "challenge_evidence": "The paper was retracted.",
        },
        key=f"dispute:{claim.pk}",
        question="Which outcome do the claim's criteria and the evidence support?",
        decisions=["answer"],
        answer_schema={"type": "string", "enum": ["yes", "no", "void"], "title": "The outcome"},
        reviewers_required=reviewer_count,
        pool="panel",
        pool_scope=f"domain:{claim.domain.slug}",
        timeout_seconds=3600,
        on_timeout="escalate",
    )


def test_a_dispute_shows_its_criteria_both_evidences_and_the_price_history(claim):
    judge = factories.human()
    factories.buy(factories.human(), claim, "yes", credits=5)
    review = _dispute(claim)
    assignment = take(judge)
    assert assignment.request_id == review.pk
    response = signed_in(judge.user).get(assignment_url(assignment))
    assert response.status_code == 200
    html = response.content.decode()
    words = text(html)
    assert "Proposed outcome YES" in words
    assert f"Resolution criteria {factories.CRITERIA}" in words
    assert "The proposer\u2019s evidence The paper reports p = 0.01." in words
    assert "The challenger\u2019s evidence The paper was retracted." in words
    assert f'<figure class="chart chart-line" id="claim-{claim.pk}-prices"><svg class="chart-svg"' in html
    assert [f.kind for f in response.context["forms"]] == ["answer"]
    assert "<legend>The outcome <span" in html
    assert_no_inline_style_or_script(html)


# --- Deciding ----------------------------------------------------------------------------------------------------


def test_approving_redirects_to_the_queue_with_a_message(owner_client, paused, me):
    assignment = take(me)
    response = owner_client.post(decide_url(assignment), {"decision": "approve", "approve-reason": ""}, follow=True)
    assert response.redirect_chain == [(reverse("review-queue"), 302)]
    review = ReviewRequest.objects.get(pk=paused.pk)
    assert review.state == "approved"
    decision = ReviewDecision.objects.get()
    assert (decision.kind, decision.value, decision.reason, decision.reviewer_id) == ("approve", None, "", me.pk)
    assert f"You approved review #{paused.pk}. Approved." in response.content.decode()
    # and my record and decisions say so
    assert response.context["record"].decided == 1
    assert [d.pk for d in response.context["decisions"]] == [decision.pk]


def test_a_rejection_without_a_reason_is_refused_and_writes_nothing(owner_client, paused, me):
    assignment = take(me)
    before = written(paused)
    response = owner_client.post(decide_url(assignment), {"decision": "reject", "reject-reason": "  "})
    assert response.status_code == 422
    assert written(paused) == before
    html = response.content.decode()
    assert re.search(
        r'<textarea name="reject-reason"[^>]* aria-invalid="true" aria-describedby="id_reject-reason_helptext '
        r'id_reject-reason_error" id="id_reject-reason">\s*</textarea>\s*'
        r'<div class="help" id="id_reject-reason_helptext">The requester reads it.</div>\s*'
        r'<ul class="errors" id="id_reject-reason_error"><li>This field is required.</li></ul>',
        html,
    )


def test_a_rejection_with_a_reason_is_recorded(owner_client, paused, me):
    assignment = take(me)
    owner_client.post(decide_url(assignment), {"decision": "reject", "reject-reason": "Not this claim."})
    review = ReviewRequest.objects.get(pk=paused.pk)
    assert (review.state, review.outcome["reason"]) == ("rejected", "Not this claim.")


def test_an_edit_outside_the_schema_is_refused_beside_its_field_and_writes_nothing(owner_client, paused, me):
    assignment = take(me)
    before = written(paused)
    response = owner_client.post(
        decide_url(assignment),
        {"decision": "edit", "edit-amount": "21", "edit-limit_price": "", "edit-reason": "More."},
    )
    assert response.status_code == 409
    assert written(paused) == before
    html = response.content.decode()
    assert re.search(
        r'name="edit-amount" value="21"[^>]*>\s*<ul class="errors" id="id_edit-amount_error">'
        r"<li>The edited payload is refused at amount: 21000000 is greater than the maximum of 20000000</li>",
        html,
    )


def test_an_edit_within_the_schema_is_recorded_as_typed(owner_client, paused, me):
    assignment = take(me)
    response = owner_client.post(
        decide_url(assignment),
        {"decision": "edit", "edit-amount": "5.5", "edit-limit_price": "0.6", "edit-reason": "Smaller."},
    )
    assert response.status_code == 302
    review = ReviewRequest.objects.get(pk=paused.pk)
    assert review.state == "edited"
    assert review.outcome["value"] == {"amount": 5_500_000, "limit_price": "0.6"}


def test_a_decision_the_request_does_not_allow_is_a_conflict(owner_client, paused, me):
    assignment = take(me)
    before = written(paused)
    response = owner_client.post(decide_url(assignment), {"decision": "answer", "answer-value": "yes"})
    assert response.status_code == 409
    assert "This review allows: approve, edit, reject." in response.content.decode()
    assert written(paused) == before


def test_answering_a_question_pays_the_price(owner_client, careful_bot, me):
    question = ask(careful_bot)
    assignment = take(me)
    before = wallet_balance(me)
    response = owner_client.post(decide_url(assignment), {"decision": "answer", "answer-value": "no"})
    assert response.status_code == 302
    review = ReviewRequest.objects.get(pk=question.pk)
    assert (review.state, review.outcome["value"]) == ("answered", "no")
    assert wallet_balance(me) == before + PRICE


def test_an_answer_not_among_the_options_is_refused_by_the_form(owner_client, careful_bot, me):
    question = ask(careful_bot)
    assignment = take(me)
    before = written(question)
    response = owner_client.post(decide_url(assignment), {"decision": "answer", "answer-value": "maybe"})
    assert response.status_code == 422
    assert written(question) == before


def test_a_form_answer_is_typed_by_its_schema(owner_client, careful_bot, me):
    question = ask(careful_bot, schema=FORM_SCHEMA)
    assignment = take(me)
    html = owner_client.get(assignment_url(assignment)).content.decode()
    assert '<legend>Verdict <span class="required-mark">(required)</span></legend>' in html
    assert '<input type="number" name="answer-confidence" step="1" min="0" max="100" required' in html
    assert '<input type="radio" name="answer-replicated" value="true" id="id_answer-replicated_0">' in html
    assert '<input type="text" name="answer-note" autocomplete="off" maxlength="80" id="id_answer-note">' in html
    response = owner_client.post(
        decide_url(assignment),
        {
            "decision": "answer",
            "answer-verdict": "sound",
            "answer-confidence": "70",
            "answer-replicated": "false",
            "answer-note": "",
        },
    )
    assert response.status_code == 302
    review = ReviewRequest.objects.get(pk=question.pk)
    assert review.outcome["value"] == {"verdict": "sound", "confidence": 70, "replicated": False}


def test_a_form_answer_out_of_bounds_is_refused_by_the_service_beside_its_field(owner_client, careful_bot, me):
    question = ask(careful_bot, schema=FORM_SCHEMA)
    assignment = take(me)
    before = written(question)
    response = owner_client.post(
        decide_url(assignment), {"decision": "answer", "answer-verdict": "sound", "answer-confidence": "101"}
    )
    assert response.status_code == 409
    assert written(question) == before
    assert re.search(
        r'<ul class="errors" id="id_answer-confidence_error"><li>The answer is refused at confidence: '
        r"101 is greater than the maximum of 100</li></ul>",
        response.content.decode(),
    )


def test_with_htmx_a_decision_answers_its_region(owner_client, paused, me):
    assignment = take(me)
    response = owner_client.post(
        decide_url(assignment), {"decision": "approve"}, HTTP_HX_TARGET="review-decision", **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card review-decision" id="review-decision"')
    assert f"You approved review #{paused.pk}. Approved." in html
    assert "<form" in html and 'action="/reviews/take"' in html and "review-decide" not in html
    # and a refusal answers the region too, with its status
    again = owner_client.post(decide_url(assignment), {"decision": "approve"}, HTTP_HX_TARGET="review-decision", **HTMX)
    assert again.status_code == 409
    refused = again.content.decode()
    assert refused.lstrip().startswith('<section class="card review-decision" id="review-decision"')
    assert '<div class="alert alert-error" role="alert"><p>This review is no longer open.</p></div>' in refused
    assert "You decided this review. It is now approved." in text(refused)
    assert ReviewDecision.objects.count() == 1


def test_a_decision_after_the_request_closed_is_a_conflict(owner_client, careful_bot, me):
    question = ask(careful_bot)
    assignment = take(me)
    services.review_cancel(request_id=question.pk, by=careful_bot)
    before = written(question)
    response = owner_client.post(decide_url(assignment), {"decision": "answer", "answer-value": "yes"})
    assert response.status_code == 409
    assert written(question) == before
    assert "This review is no longer open." in response.content.decode()


# --- The requester's side ------------------------------------------------------------------------------------------


def test_my_requests_list_the_waiting_ones_first(owner_client, careful_bot, paused, me):
    first = ask(careful_bot, key="a-1")
    services.review_cancel(request_id=first.pk, by=careful_bot)
    response = owner_client.get(reverse("my-reviews"))
    assert response.status_code == 200
    assert [r.pk for r in response.context["waiting"]] == [paused.pk]
    assert [r.pk for r in response.context["finished"]] == [first.pk]
    words = text(response.content.decode())
    assert words.index(factories.TITLE) < words.index("Is the source reliable?")
    assert "Cancelled." in words and "Waiting for a reviewer." in words
    assert_no_inline_style_or_script(response.content.decode())


def test_someone_elses_requests_are_not_mine(stranger_client, paused):
    response = stranger_client.get(reverse("my-reviews"))
    assert (response.context["waiting"], response.context["finished"]) == ([], [])
    assert stranger_client.get(reverse("my-review", args=[paused.pk])).status_code == 404
    assert stranger_client.post(reverse("my-review-cancel", args=[paused.pk])).status_code == 404
    assert ReviewRequest.objects.get(pk=paused.pk).state == "pending"


def test_a_request_shows_its_timeline(owner_client, paused, me):
    assignment = take(me)
    owner_client.post(decide_url(assignment), {"decision": "reject", "reject-reason": "Not now."})
    response = owner_client.get(reverse("my-review", args=[paused.pk]))
    assert response.status_code == 200
    assert [e.kind for e in response.context["events"]] == ["opened", "assigned", "decided", "rejected"]
    words = text(response.content.decode())
    assert "Rejected: “Not now.”" in words and "Not now.”." not in words
    assert "Order Buy YES Amount 20 credits" in words  # the order reads as it did to its reviewer
    assert "reason Not now. decision reject" in words
    assert f"Decided by @{me.handle}" in words
    assert "Cancel this request" not in words
    assert_no_inline_style_or_script(response.content.decode())


def test_cancelling_returns_the_price(owner_client, careful_bot):
    question = ask(careful_bot)
    response = owner_client.post(reverse("my-review-cancel", args=[question.pk]), follow=True)
    assert response.redirect_chain == [(reverse("my-review", args=[question.pk]), 302)]
    assert ReviewRequest.objects.get(pk=question.pk).state == "cancelled"
    assert wallet_balance(careful_bot) == factories.BOT_FUNDS
    assert f"Review #{question.pk} is cancelled. Its price, 3 credits, is back." in response.content.decode()
    # twice: the request is over, said with its status, and nothing moves again
    again = owner_client.post(reverse("my-review-cancel", args=[question.pk]))
    assert again.status_code == 409
    assert "This review is no longer open." in again.content.decode()
    assert wallet_balance(careful_bot) == factories.BOT_FUNDS


# --- Query counts: the same for 1 row as for 5 ---------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 5])
def test_the_queue_query_count_does_not_grow(owner_client, careful_bot, me, rows, django_assert_num_queries):
    for n in range(rows):  # decided, leased, and waiting: rows of each
        ask(careful_bot, key=f"d-{n}")
        services.review_decide(assignment_id=take(me).pk, reviewer=me, kind="answer", value="yes")
    for n in range(rows):
        ask(careful_bot, key=f"l-{n}")
        take(me)
    for n in range(rows):
        ask(careful_bot, key=f"w-{n}")
    # session, user, identity, nav balance, nav count; queue count, first, groups; leases; decisions; record (2)
    with django_assert_num_queries(12):
        response = owner_client.get(reverse("review-queue"))
    assert response.status_code == 200
    assert (response.context["waiting"], len(response.context["leases"]), len(response.context["decisions"])) == (
        rows,
        rows,
        rows,
    )


@pytest.mark.parametrize("rows", [1, 5])
def test_my_requests_query_count_does_not_grow(owner_client, careful_bot, me, rows, django_assert_num_queries):
    for n in range(rows):
        ask(careful_bot, key=f"w-{n}")
        services.review_cancel(request_id=ask(careful_bot, key=f"c-{n}").pk, by=careful_bot)
    # session, user, identity, nav balance, nav count; the waiting page, the finished page
    with django_assert_num_queries(7):
        response = owner_client.get(reverse("my-reviews"))
    assert (len(response.context["waiting"]), len(response.context["finished"])) == (rows, rows)


# --- The form drawn from a schema ----------------------------------------------------------------------------------


def test_an_unbound_edit_form_starts_from_the_order():
    form = DecisionForm(
        kind="edit",
        schema={"type": "object", "properties": {"amount": {"type": "integer", "minimum": 1, "maximum": 20 * CREDIT}}},
        initial_values={"amount": 12_500_000},
        money=frozenset({"amount"}),
    )
    assert form["amount"].value() == "12.5"
    assert form.fields["reason"].required is True


def test_a_number_answer_keeps_its_fraction_and_json_answers_parse():
    form = DecisionForm({"answer-value": "0.25", "answer-reason": ""}, kind="answer", schema={"type": "number"})
    assert form.is_valid() and form.decision() == ("answer", 0.25, "")
    whole = DecisionForm({"answer-value": "3"}, kind="answer", schema={"type": "number"})
    assert whole.is_valid() and whole.decision()[1] == 3
    listed = DecisionForm({"answer-value": "[1, 2]"}, kind="answer", schema={"type": "array"})
    assert listed.is_valid() and listed.decision()[1] == [1, 2]
    broken = DecisionForm({"answer-value": "[1,"}, kind="answer", schema={"type": "array"})
    assert not broken.is_valid()
    assert broken.errors["value"] == ["This is not JSON: Expecting value (line 1)."]


def test_an_unanchored_pattern_is_not_given_to_the_browser():
    form = DecisionForm(
        kind="answer",
        schema={
            "type": "object",
            "properties": {"a": {"type": "string", "pattern": "x"}, "b": {"type": "string", "pattern": "^x$"}},
        },
    )
    assert "pattern" not in form.fields["a"].widget.attrs
    assert form.fields["b"].widget.attrs["pattern"] == "^x$"


def test_a_verified_human_panel_reviewer_sees_the_scope(claim):
    judge = factories.human()
    judge.user.verification_level = VerificationLevel.VERIFIED_HUMAN
    judge.user.save(update_fields=["verification_level"])
    _dispute(claim)
    response = signed_in(judge.user).get(reverse("review-queue"))
    assert [(g["checkpoint"], g["scope"], g["waiting"]) for g in response.context["groups"]] == [
        ("resolution.dispute", f"domain:{claim.domain.slug}", 1)
    ]


def test_decimal_helper_never_shows_exponents():
    form = DecisionForm(
        kind="edit",
        schema={"type": "object", "properties": {"amount": {"type": "integer"}}},
        initial_values={"amount": 100 * CREDIT},
        money=frozenset({"amount"}),
    )
    assert form["amount"].value() == "100"
    assert Decimal(form["amount"].value()) == 100
