"""Posting a claim from the browser: exact subsidy, field errors that keep what was typed and write
nothing, the live check (errors, cost, escaped preview), one claim per rendered form, drafts."""

import html as html_lib
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.ledger.models import Entry, Transfer
from apps.ledger.selectors import wallet_balance
from apps.markets.models import Claim, ClaimStatus, Market
from apps.web.views import post as post_views
from tests import factories
from tests.factories import GRANT, SUBSIDY
from tests.support import HTMX, amount, hidden_value, race, signed_in

SUBSIDY_1000 = 693_147_181  # ceil(1,000 credits · ln 2)
SUBSIDY_2000 = 1_386_294_362  # ceil(2,000 credits · ln 2)
FMT = "%Y-%m-%dT%H:%M"
TITLE = "Will the replication of the ego-depletion study succeed?"
CRITERIA = "YES if the registered replication reports p < 0.05 for the main effect by the close; NO otherwise."


def _when(**delta) -> str:
    return (timezone.now() + timedelta(**delta)).strftime(FMT)


def _token(client: Client) -> str:
    return hidden_value(client.get(reverse("claim-new")).content.decode(), "form_token")


def _data(token: str = "", **overrides) -> dict:
    data = {
        "title": TITLE,
        "criteria": CRITERIA,
        "domain": "science",
        "tags": "Replication, psychology",
        "closes_at": _when(days=30),
        "resolve_by": _when(days=60),
        "liquidity": "100",
        "form_token": token,
        "action": "publish",
    }
    data.update(overrides)
    return data


def _message(response) -> str:
    """The message this response added (earlier ones wait unread: the tests do not follow redirects)."""
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


def _errors(html: str, field: str) -> str:
    """The inner HTML of the error list next to `field`."""
    marker = f'<ul class="errors" id="id_{field}_errors">'
    start = html.index(marker) + len(marker)
    return html[start : html.index("</ul>", start)]


def _written() -> tuple[int, int, int, int]:
    return Claim.objects.count(), Transfer.objects.count(), Entry.objects.count(), Event.objects.count()


@pytest.fixture
def author(owner):
    return factories.human(owner)


# --- Submitting ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_publishing_charges_exactly_the_subsidy_and_creates_one_claim(owner_client, author):
    data = _data(_token(owner_client))
    response = owner_client.post(reverse("claim-new"), data)

    claim = Claim.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("claim-detail", args=[claim.pk])
    assert _message(response) == ("Your claim is open for trading. The subsidy of 69.31 credits was paid.")
    assert (claim.title, claim.criteria, claim.domain.slug, claim.tags) == (
        TITLE,
        CRITERIA,
        "science",
        ["psychology", "replication"],
    )
    assert (claim.status, claim.liquidity, claim.author_id) == (ClaimStatus.OPEN, 100 * CREDIT, author.pk)
    assert claim.closes_at.strftime(FMT) == data["closes_at"]
    assert claim.resolve_by.strftime(FMT) == data["resolve_by"]
    assert Market.objects.get(claim=claim).subsidy == SUBSIDY
    assert wallet_balance(author) == GRANT - SUBSIDY
    subsidy = Transfer.objects.get(kind="market_subsidy")
    assert sorted(subsidy.entries.values_list("amount", flat=True)) == [-SUBSIDY, SUBSIDY]


@pytest.mark.django_db
def test_the_form_page_renders_with_the_live_check_wired_to_each_field(owner_client, author):
    response = owner_client.get(reverse("claim-new"))
    assert response.status_code == 200
    html = response.content.decode()
    check = reverse("claim-new-check")
    for name, trigger in [
        ("title", "input changed delay:300ms"),
        ("criteria", "input changed delay:300ms"),
        ("liquidity", "input changed delay:300ms"),
        ("domain", "change"),
        ("closes_at", "change"),
        ("resolve_by", "change"),
    ]:
        tag = html[html.index(f'name="{name}"') - 200 : html.index(f'name="{name}"') + 400]
        assert f'hx-post="{check}"' in tag
        assert f'hx-trigger="{trigger}"' in tag
        assert f'<label for="id_{name}">' in html
        assert f'<ul class="errors" id="id_{name}_errors"></ul>' in html
    # the default liquidity is 100 credits
    assert f'<dd id="claim-subsidy">{amount("69.31", "69.314719")} credits</dd>' in html
    assert '<dd id="claim-balance">1,000 credits</dd>' in html
    assert f'<dd id="claim-balance-after">{amount("930.69", "930.685281")} credits</dd>' in html
    assert "<script>" not in html.split("</head>")[1]  # no inline script in the page body
    assert " style=" not in html and " onclick=" not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        pytest.param(
            {"criteria": "  "},
            "criteria",
            "Resolution criteria are required: say exactly what makes this claim YES or NO.",
            id="criteria-missing",
        ),
        pytest.param(
            {"closes_at": _when(days=30), "resolve_by": _when(days=10)},
            "resolve_by",
            "The resolution date must not be before trading closes.",
            id="closes-after-resolve-by",
        ),
        pytest.param(
            {"closes_at": _when(days=-1), "resolve_by": _when(days=10)},
            "closes_at",
            "Trading must close in the future.",
            id="closes-in-the-past",
        ),
        pytest.param(
            {"closes_at": _when(days=3652), "resolve_by": _when(days=3700)},
            "closes_at",
            "Trading may close at most 3,650 days from now.",
            id="closes-beyond-the-horizon",
        ),
        pytest.param(
            {"liquidity": "9.999999"},
            "liquidity",
            "Liquidity must be between 10 and 10,000 credits.",
            id="liquidity-below-bounds",
        ),
        pytest.param(
            {"liquidity": "10000.000001"},
            "liquidity",
            "Liquidity must be between 10 and 10,000 credits.",
            id="liquidity-above-bounds",
        ),
        pytest.param(
            {"liquidity": "2000"},
            "liquidity",
            "Publishing costs 1,386.29 credits and your wallet holds 1,000: lower the liquidity, "
            "or save a draft and publish it later.",
            id="insufficient-credit",
        ),
        pytest.param(
            {"title": ""},
            "title",
            "Give the claim a title: the question traders answer YES or NO.",
            id="title-missing",
        ),
        pytest.param({"tags": ", ".join(f"t{n}" for n in range(11))}, "tags", "At most 10 tags.", id="eleven-tags"),
    ],
)
def test_each_invalid_input_is_shown_next_to_its_field_keeps_the_input_and_writes_nothing(
    owner_client, author, overrides, field, message
):
    data = _data(_token(owner_client), **overrides)
    before = _written()
    response = owner_client.post(reverse("claim-new"), data)

    assert response.status_code == 422
    html = response.content.decode()
    assert _errors(html, field) == f"<li>{html_lib.escape(message)}</li>"
    others = {"title", "criteria", "domain", "tags", "closes_at", "resolve_by", "liquidity"} - {field}
    assert {name: _errors(html, name) for name in others} == dict.fromkeys(others, "")
    # What was typed comes back.
    if data["title"]:
        assert f'value="{html_lib.escape(data["title"])}"' in html
    assert f'value="{data["closes_at"]}"' in html
    assert f'value="{data["liquidity"]}"' in html
    assert '<option value="science" selected>Science</option>' in html
    if data["criteria"].strip():
        assert f">\n{html_lib.escape(data['criteria'])}</textarea>" in html
    assert hidden_value(html, "form_token") == data["form_token"]
    # Nothing was written.
    assert _written() == before
    assert wallet_balance(author) == GRANT


@pytest.mark.django_db
def test_a_refusal_by_the_service_is_shown_on_the_field_and_writes_nothing(owner_client, author, monkeypatch):
    """The form's check passed on a stale balance; the service's ledger check still refuses."""
    data = _data(_token(owner_client), liquidity="2000")
    real = post_views.wallet_balance
    stale = iter([10**12])
    monkeypatch.setattr(post_views, "wallet_balance", lambda identity: next(stale, None) or real(identity))
    before = _written()
    response = owner_client.post(reverse("claim-new"), data)

    assert response.status_code == 409
    assert _errors(response.content.decode(), "liquidity") == (
        "<li>Publishing costs 1,386.29 credits and your wallet holds 1,000: lower the liquidity, "
        "or save a draft and publish it later.</li>"
    )
    assert _written() == before  # not even the draft: claim_create publishes in its own transaction
    assert wallet_balance(author) == GRANT


@pytest.mark.django_db
def test_the_open_claims_limit_is_a_form_error_and_the_same_form_can_then_be_saved_as_a_draft(owner_client, author):
    factories.new_claim(
        author,
        title="An earlier claim",
        criteria="Criteria.",
        tags=(),
        liquidity=10 * CREDIT,
        closes_in=timedelta(days=5),
        resolves_in=timedelta(days=1),
    )
    balance, before = wallet_balance(author), _written()
    data = _data(_token(owner_client))
    with override_settings(CREDENCE_MAX_OPEN_CLAIMS=1):
        response = owner_client.post(reverse("claim-new"), data)
    assert response.status_code == 409
    html = response.content.decode()
    assert (
        '<div class="alert alert-error" role="alert">\n        <p>You already have 1 open claims, the most allowed: '
        "another can be published once one of them has closed. Drafts cost nothing meanwhile.</p>" in html
    )
    assert f'value="{TITLE}"' in html
    assert _written() == before
    assert wallet_balance(author) == balance

    # The refused submission released the form: the same form saves a draft.
    response = owner_client.post(reverse("claim-new"), {**data, "action": "draft"})
    draft = Claim.objects.get(title=TITLE)
    assert response.status_code == 302
    assert response["Location"] == reverse("claim-detail", args=[draft.pk])
    assert draft.status == ClaimStatus.DRAFT
    assert wallet_balance(author) == balance


@pytest.mark.django_db
def test_a_double_submitted_form_creates_one_claim(owner_client, author):
    # Deep enough that the wallet could not pay a second subsidy: the resubmission must not be judged anew.
    data = _data(_token(owner_client), liquidity="1000")
    first = owner_client.post(reverse("claim-new"), data)
    second = owner_client.post(reverse("claim-new"), data)

    claim = Claim.objects.get()
    assert first["Location"] == second["Location"] == reverse("claim-detail", args=[claim.pk])
    assert _message(second) == "That form was already submitted: the claim was posted once."
    assert wallet_balance(author) == GRANT - SUBSIDY_1000
    assert Transfer.objects.filter(kind="market_subsidy").count() == 1
    # A freshly rendered form is a new claim.
    owner_client.post(reverse("claim-new"), _data(_token(owner_client), title="Another question?"))
    assert Claim.objects.count() == 2
    assert wallet_balance(author) == GRANT - SUBSIDY_1000 - SUBSIDY


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_of_one_form_create_one_claim(owner):
    # a transactional test: an earlier one may have flushed the domains the migrations created
    factories.domain()
    clients = [signed_in(owner), signed_in(owner)]
    data = _data(_token(clients[0]))

    responses = race(2, lambda i: clients[i].post(reverse("claim-new"), data))

    claim = Claim.objects.get()
    assert [r.status_code for r in responses] == [302, 302]
    assert {r["Location"] for r in responses} == {reverse("claim-detail", args=[claim.pk])}
    assert wallet_balance(factories.human(owner)) == GRANT - SUBSIDY


@pytest.mark.django_db
def test_a_draft_costs_nothing_and_is_published_from_the_drafts_list(owner_client, author):
    response = owner_client.post(reverse("claim-new"), _data(_token(owner_client), action="draft"))
    draft = Claim.objects.get()
    assert response["Location"] == reverse("claim-detail", args=[draft.pk])
    assert _message(response) == ("Draft saved. Nothing was charged: publish it when you are ready.")
    assert (draft.status, wallet_balance(author)) == (ClaimStatus.DRAFT, GRANT)
    assert not Market.objects.exists()

    html = owner_client.get(reverse("claim-new")).content.decode()
    assert f'<tr id="draft-{draft.pk}">' in html
    assert f'<td class="num">{amount("69.31", "69.314719")}</td>' in html
    publish = reverse("claim-draft-publish", args=[draft.pk])
    assert f'action="{publish}"' in html

    response = owner_client.post(publish)
    assert response["Location"] == reverse("claim-detail", args=[draft.pk])
    draft.refresh_from_db()
    assert draft.status == ClaimStatus.OPEN
    assert wallet_balance(author) == GRANT - SUBSIDY
    # Publishing again changes nothing.
    response = owner_client.post(publish)
    assert _message(response) == ("This claim is already published.")
    assert wallet_balance(author) == GRANT - SUBSIDY


@pytest.mark.django_db
def test_a_draft_too_expensive_to_publish_gets_a_message_and_stays_a_draft(owner_client, author):
    owner_client.post(reverse("claim-new"), _data(_token(owner_client), action="draft", liquidity="2000"))
    draft = Claim.objects.get()
    before = _written()
    response = owner_client.post(reverse("claim-draft-publish", args=[draft.pk]))
    assert response["Location"] == reverse("claim-detail", args=[draft.pk])  # from the claim's own page
    assert _message(response) == (
        "Publishing costs 1,386.29 credits and your wallet holds 1,000: lower the liquidity, "
        "or save a draft and publish it later."
    )
    # From the drafts list, which says where to come back to (and only ever to this site).
    url = reverse("claim-draft-publish", args=[draft.pk])
    response = owner_client.post(url, {"next": f"{reverse('claim-new')}#drafts"})
    assert response["Location"] == f"{reverse('claim-new')}#drafts"
    response = owner_client.post(url, {"next": "https://elsewhere.example/"})
    assert response["Location"] == reverse("claim-detail", args=[draft.pk])
    draft.refresh_from_db()
    assert draft.status == ClaimStatus.DRAFT
    assert _written() == before


@pytest.mark.django_db
def test_someone_elses_draft_cannot_be_published(owner_client, author, stranger_client, stranger):
    stranger_client.post(reverse("claim-new"), _data(_token(stranger_client), action="draft"))
    draft = Claim.objects.get()
    response = owner_client.post(reverse("claim-draft-publish", args=[draft.pk]))
    assert response.status_code == 404
    draft.refresh_from_db()
    assert draft.status == ClaimStatus.DRAFT
    assert wallet_balance(author) == wallet_balance(factories.human(stranger)) == GRANT


# --- Live check and preview -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_live_check_returns_the_errors_of_visited_fields_and_the_cost(owner_client, author):
    before = _written()
    data = _data("", criteria="", closes_at="", resolve_by="", domain="", touched="title")
    response = owner_client.post(reverse("claim-new-check"), data, HTTP_HX_TRIGGER_NAME="criteria", **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<aside class="claim-live" id="claim-live"')
    assert (
        '<ul class="errors" id="id_criteria_errors" hx-swap-oob="true"><li>Resolution criteria are required: '
        "say exactly what makes this claim YES or NO.</li></ul>" in html
    )
    assert '<ul class="errors" id="id_title_errors" hx-swap-oob="true"></ul>' in html
    # Fields not visited yet are not scolded.
    assert 'id="id_closes_at_errors"' not in html
    assert 'id="id_domain_errors"' not in html
    assert '<input type="hidden" name="touched" id="claim-touched" value="criteria liquidity tags title" ' in html
    assert f'<dd id="claim-subsidy">{amount("69.31", "69.314719")} credits</dd>' in html
    assert f'<dd id="claim-balance-after">{amount("930.69", "930.685281")} credits</dd>' in html
    assert _written() == before


@pytest.mark.django_db
def test_the_live_check_reports_ordering_bounds_and_credit(owner_client, author):
    response = owner_client.post(
        reverse("claim-new-check"),
        _data("", closes_at=_when(days=20), resolve_by=_when(days=2), liquidity="5"),
        **HTMX,
    )
    html = response.content.decode()
    assert (
        '<ul class="errors" id="id_resolve_by_errors" hx-swap-oob="true"><li>The resolution date must not be '
        "before trading closes.</li></ul>" in html
    )
    assert (
        '<ul class="errors" id="id_liquidity_errors" hx-swap-oob="true"><li>Liquidity must be between 10 and '
        "10,000 credits.</li></ul>" in html
    )
    assert '<ul class="errors" id="id_closes_at_errors" hx-swap-oob="true"></ul>' in html
    assert '<dd id="claim-subsidy"><span class="muted">enter a liquidity within bounds</span></dd>' in html

    response = owner_client.post(reverse("claim-new-check"), _data("", liquidity="2000"), **HTMX)
    html = response.content.decode()
    assert f'<dd id="claim-subsidy">{amount("1,386.29", "1,386.294362")} credits</dd>' in html
    assert f'<dd id="claim-balance-after" class="credit-out">{amount("-386.29", "-386.294362")} credits</dd>' in html
    assert (
        '<ul class="errors" id="id_liquidity_errors" hx-swap-oob="true"><li>Publishing costs 1,386.29 credits '
        "and your wallet holds 1,000: lower the liquidity, or save a draft and publish it later.</li></ul>" in html
    )
    assert Claim.objects.count() == 0


HOSTILE_TITLE = '<script>alert("x")</script> & more'
HOSTILE_CRITERIA = "<img src=x onerror=alert(1)>\nsecond line"


@pytest.mark.django_db
def test_the_preview_shows_what_was_typed_escaped(owner_client, author):
    response = owner_client.post(
        reverse("claim-new-check"), _data("", title=HOSTILE_TITLE, criteria=HOSTILE_CRITERIA), **HTMX
    )
    html = response.content.decode()
    assert '<h2 class="claim-preview-title">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more</h2>' in html
    assert '<div class="claim-preview-criteria"><p>&lt;img src=x onerror=alert(1)&gt;<br>second line</p></div>' in html
    assert '<span class="badge badge-domain">Science</span>' in html
    assert '<span class="claim-tag">#psychology</span><span class="claim-tag">#replication</span>' in html
    assert "<script>alert" not in html
    assert "<img src=x" not in html


@pytest.mark.django_db
def test_without_javascript_the_preview_button_checks_and_previews_without_writing(owner_client, author):
    data = _data(_token(owner_client), title=HOSTILE_TITLE, action="preview")
    before = _written()
    response = owner_client.post(reverse("claim-new"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h2 class="claim-preview-title">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more</h2>' in html
    assert "<script>alert" not in html
    assert f'<dd id="claim-subsidy">{amount("69.31", "69.314719")} credits</dd>' in html
    assert _written() == before


# --- Who may post ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method"), [("claim-new", "get"), ("claim-new", "post"), ("claim-new-check", "post")])
def test_anonymous_visitors_are_sent_to_sign_in(client, name, method):
    url = reverse(name)
    response = client.get(url) if method == "get" else client.post(url, _data("00000000-0000-0000-0000-000000000000"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"
    assert Claim.objects.count() == 0


@pytest.mark.django_db
def test_anonymous_publish_is_sent_to_sign_in(client, author):
    draft = factories.new_claim(
        author,
        title="A draft nobody published",
        criteria="Criteria.",
        tags=(),
        liquidity=10 * CREDIT,
        closes_in=timedelta(days=5),
        resolves_in=timedelta(days=1),
        publish=False,
    )
    url = reverse("claim-draft-publish", args=[draft.pk])
    response = client.post(url)
    assert response["Location"] == f"{reverse('account_login')}?next={url}"
    draft.refresh_from_db()
    assert draft.status == ClaimStatus.DRAFT


@pytest.mark.django_db
def test_a_person_without_a_verified_email_cannot_post(client):
    client.force_login(factories.UserFactory())
    html = client.get(reverse("claim-new")).content.decode()
    assert "You can post claims once your email address is verified" in html
    assert 'name="title"' not in html
    response = client.post(reverse("claim-new"), _data("00000000-0000-0000-0000-000000000000"))
    assert response.status_code == 403
    assert client.post(reverse("claim-new-check"), _data(""), **HTMX).status_code == 403
    assert Claim.objects.count() == 0


@pytest.mark.django_db
def test_a_suspended_identity_cannot_post(owner_client, author):
    from apps.identities.services import identity_suspend

    identity_suspend(identity=author, reason="spam", moderator=factories.moderator())
    html = owner_client.get(reverse("claim-new")).content.decode()
    assert f"Your identity @{author.handle} is suspended: it cannot post claims." in html
    response = owner_client.post(reverse("claim-new"), _data("00000000-0000-0000-0000-000000000000"))
    assert response.status_code == 403
    assert Claim.objects.count() == 0


@pytest.mark.django_db
def test_a_voided_draft_cannot_be_published(owner_client, author):
    from apps.markets.resolution import claim_void

    owner_client.post(reverse("claim-new"), _data(_token(owner_client), action="draft"))
    draft = Claim.objects.get()
    staff = factories.moderator("staff@example.com")
    claim_void(claim=draft, user=staff, reason="Duplicate of another claim.")
    before = _written()
    response = owner_client.post(reverse("claim-draft-publish", args=[draft.pk]))
    assert response["Location"] == reverse("claim-detail", args=[draft.pk])
    assert _message(response) == "This draft was voided by a moderator: it cannot be published."
    assert _written() == before
    assert wallet_balance(author) == GRANT
