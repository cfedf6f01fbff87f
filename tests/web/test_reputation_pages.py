"""The reputation pages: an identity's public page, the leaderboards and the platform's track record.

Every history is built through the real services (claims created and published, beliefs stated, claims
closed, resolved, settled and scored); the figures on the pages are checked against the scoring model's
own formulas, to the digit shown."""

import math
import re
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.identities.models import AutonomyLevel
from apps.identities.services import agent_update, identity_suspend
from apps.reputation import maths
from apps.reputation.models import ClaimRecord, Reliability, Score
from apps.web.charts import point_radius
from apps.web.views import reputation as views
from tests import factories
from tests.factories import history

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
EVIL = '<script>alert("x")</script> & co'
EVIL_ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"


# --- Helpers ------------------------------------------------------------------------------------------


def cells(fragment: str) -> list[str]:
    """The text of each cell of a table row, tags removed and whitespace collapsed."""
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", fragment, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in found]


def table(html: str, table_id: str) -> list[list[str]]:
    """The body rows of the table with this id."""
    match = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', html, re.S)
    assert match, f"no table #{table_id}"
    body = re.search(r"<tbody>(.*?)</tbody>", match.group(1), re.S).group(1)
    return [cells(row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def stats(html: str) -> dict[str, str]:
    block = re.search(r'<dl class="stats" id="record-stats">(.*?)</dl>', html, re.S).group(1)
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block, re.S)
    return {dt: " ".join(unescape(re.sub(r"<[^>]+>", " ", dd)).split()) for dt, dd in pairs}


def provenance(html: str) -> dict[str, str]:
    block = re.search(r'<dl class="facts" id="provenance">(.*?)</dl>', html, re.S).group(1)
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", block, re.S)
    return {dt: " ".join(unescape(re.sub(r"<[^>]+>", " ", dd)).split()) for dt, dd in pairs}


def page(url: str, params: dict | None = None, **headers):
    response = Client().get(url, params or {}, **headers)
    return response, response.content.decode()


def queries(url: str, params: dict | None = None) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as captured:
        response = Client().get(url, params or {})
    assert response.status_code == 200
    return response.content.decode(), len(captured)


def g(value: float) -> str:
    return f"{value:.3g}"


def f4(value: float) -> str:
    """Django's floatformat:4 (half up) on a float."""
    return f"{value:.4f}"


# --- Fixtures -----------------------------------------------------------------------------------------


@pytest.fixture
def science(db):
    return factories.domain()


@pytest.fixture
def economics(db):
    return factories.domain("economics")


@pytest.fixture
def author(db):
    return factories.human()


@pytest.fixture
def resolver(db):
    """A verified identity that never forecasts: it proposes outcomes."""
    return factories.human()


@pytest.fixture
def alice_user(db):
    return factories.verified_user(display_name=EVIL)


@pytest.fixture
def alice(alice_user):
    return factories.human(alice_user)


@pytest.fixture
def bot(alice_user):
    return factories.agent(
        alice_user,
        handle="alice-bot",
        display_name="Alice's <bot>",
        model_name="<b>gpt</b>",
        provider="Acme & Sons",
        model_version="v1",
        autonomy_level=AutonomyLevel.SUPERVISED,
        code_url="https://example.com/bot?x=1&y=2",
    )


@pytest.fixture
def carol(db):
    return factories.human()


# Relative log scores against the 0.5 price every belief was stated at.
RIGHT_08, WRONG_08 = math.log(0.8 / 0.5), math.log(0.2 / 0.5)
RIGHT_09, WRONG_06 = math.log(0.9 / 0.5), math.log(0.4 / 0.5)


@pytest.fixture
def scored(author, resolver, science, economics, alice, bot):
    """alice: 0.8 on two science claims that resolved YES and one economics claim that resolved NO; her
    agent: 0.9 on the two science claims (declared v1), then 0.6 on a science claim that resolved NO (v2)."""
    history({alice: "0.8", bot: "0.9"}, author, science, resolver, outcome="yes", claims=2)
    history({alice: "0.8"}, author, economics, resolver, outcome="no", title=EVIL)
    agent_update(owner=bot.owner, agent=bot, model_version="v2")
    history({bot: "0.6"}, author, science, resolver, outcome="no", title="Will the bot's v2 be right?")
    return {"alice": alice, "bot": bot}


# --- The identity page --------------------------------------------------------------------------------


def test_a_humans_page_shows_the_track_record_reliability_and_agents(scored, alice, bot):
    response, html = page(f"/id/{alice.handle}/")
    assert response.status_code == 200
    assert f"<h1>@{alice.handle} " in html
    assert f'<p class="lead identity-name">{EVIL_ESCAPED}</p>' in html
    assert "<script>alert" not in html

    assert stats(html) == {
        "Resolved forecasts": "3",
        "Brier score": f4((0.04 + 0.04 + 0.64) / 3),  # 0.2400
        "Log score": f4((2 * math.log(0.8) + math.log(0.2)) / 3),  # -0.6852
        "Information added": f"{(2 * RIGHT_08 + WRONG_08) / 3:+.4f} nats",  # +0.0079
        "Profit": "0 credits",  # beliefs alone stake nothing
        "Overall weight": g(Reliability.objects.get(identity=alice, domain=None).weight),
    }
    science = maths.Stats(2, 2 * RIGHT_08, 2 * RIGHT_08**2)
    economics = maths.Stats(1, WRONG_08, WRONG_08**2)
    econ_post, sci_post = maths.home_posterior(economics), maths.home_posterior(science)
    weights = {r.domain.slug: r.weight for r in Reliability.objects.filter(identity=alice, domain__isnull=False)}
    # (economics: alone on the claim, a newcomer's weight faded by the loss; science: fitted beside her agent's
    # pool... her agent is hers, so she had no pool either)
    assert weights == {
        "economics": pytest.approx(maths.Record(economics).weight, rel=1e-12),
        "science": pytest.approx(maths.Record(science).weight, rel=1e-12),
    }
    assert table(html, "domain-reliability") == [
        ["Economics", "1", "0.6400", "-0.9163", f"{econ_post.mean:+.3f} ± {econ_post.sd:.3f}", g(weights["economics"])],
        ["Science", "2", "0.0400", "+0.4700", f"{sci_post.mean:+.3f} ± {sci_post.sd:.3f}", g(weights["science"])],
    ]
    assert '<a href="/leaderboards/?domain=economics">Economics</a>' in html
    # Newest first, each linked to its claim; a title is escaped.
    rows = table(html, "scored-forecasts")
    assert [row[1:] for row in rows] == [
        ["80%", "50%", "NO", "0.6400", "-0.9163", "0"],
        ["80%", "50%", "YES", "0.0400", "+0.4700", "0"],
        ["80%", "50%", "YES", "0.0400", "+0.4700", "0"],
    ]
    assert rows[0][0].startswith(f"{EVIL} Economics · stated belief · scored ")
    assert rows[1][0].startswith("Will science claim 2 hold? Science · stated belief · scored ")
    claims = [record.claim_id for record in ClaimRecord.objects.order_by("-id")]
    links = re.findall(r'<a href="/claims/(\d+)/">', html.split('id="scored-forecasts"')[1].split("</table>")[0])
    assert [int(pk) for pk in links] == [claims[1], claims[2], claims[3]]  # not the bot's last claim
    assert [row[:3] for row in table(html, "stated-beliefs")] == [
        [EVIL, "80%", "50%"],
        ["Will science claim 2 hold?", "80%", "50%"],
        ["Will science claim 1 hold?", "80%", "50%"],
    ]
    # Agents owned, linked; no provenance block for a human.
    assert re.search(
        r'<ul class="identity-list" id="owned-agents">\s*<li><a href="/id/alice-bot/">@alice-bot</a>', html
    )
    assert 'id="provenance"' not in html
    assert 'id="model-versions"' not in html


def test_a_humans_page_draws_the_calibration_chart(scored, alice):
    _, html = page(f"/id/{alice.handle}/")
    assert '<figure class="chart chart-calibration" id="identity-calibration">' in html
    assert f'<title id="identity-calibration-title">Calibration of @{alice.handle}</title>' in html
    # Three forecasts of 0.8, two of which came true: one point at (80%, 66.7%).
    cx, cy, r = 60 + 0.8 * 320, 340 - (2 / 3) * 320, point_radius(3)
    assert f'<circle class="chart-point" cx="{cx:g}" cy="{cy:.1f}" r="{r:.1f}"' in html
    assert ">Forecast probability of YES</text>" in html
    assert ">Observed frequency of YES</text>" in html
    assert f'<tr><td>@{alice.handle}</td><td>80%\N{EN DASH}90%</td><td class="num">3</td>' in html


def test_an_agents_page_shows_owner_provenance_and_scores_by_model_version(scored, alice, bot):
    response, html = page("/id/alice-bot/")
    assert response.status_code == 200
    facts = provenance(html)
    assert facts == {
        "Owner": f"@{alice.handle}",
        "Model": "<b>gpt</b>",
        "Provider": "Acme & Sons",
        "Version": "v2",
        "Autonomy": "Supervised (a human reviews at checkpoints)",
        "Code": "https://example.com/bot?x=1&y=2",
        "Registered": f"{bot.created_at.day} {bot.created_at:%b %Y}",
    }
    assert f'<dd><a href="/id/{alice.handle}/">@{alice.handle}</a></dd>' in html
    assert "<dd>&lt;b&gt;gpt&lt;/b&gt;</dd>" in html
    assert '<a href="https://example.com/bot?x=1&amp;y=2" rel="nofollow ugc noopener">' in html
    assert "Alice&#x27;s &lt;bot&gt;" in html
    assert table(html, "model-versions") == [
        ["v1", "2", "0.0100", f"{RIGHT_09:+.4f}"],
        ["v2", "1", "0.3600", f"{WRONG_06:+.4f}"],
    ]
    overall = maths.Stats(3, 2 * RIGHT_09 + WRONG_06, 2 * RIGHT_09**2 + WRONG_06**2)
    assert stats(html) == {
        "Resolved forecasts": "3",
        "Brier score": f4((0.01 + 0.01 + 0.36) / 3),
        "Log score": f4((2 * math.log(0.9) + math.log(0.4)) / 3),
        "Information added": f"{(2 * RIGHT_09 + WRONG_06) / 3:+.4f} nats",
        "Profit": "0 credits",
        "Overall weight": g(Reliability.objects.get(identity=bot, domain=None).weight),
    }
    assert Reliability.objects.get(identity=bot, domain=None).weight == pytest.approx(maths.Record(overall).weight)
    assert 'id="owned-agents"' not in html


def test_an_agent_of_a_suspended_owner_names_the_owner_without_a_link(alice, bot):
    identity_suspend(identity=alice, reason="Testing.", moderator=factories.moderator())
    _, html = page("/id/alice-bot/")
    assert f"<dd>@{alice.handle}</dd>" in html
    assert f'href="/id/{alice.handle}/"' not in html


def test_a_page_without_resolved_forecasts_says_so(carol):
    response, html = page(f"/id/{carol.handle}/")
    assert response.status_code == 200
    assert "No resolved forecasts yet. Forecasts are scored when their claims resolve." in html
    assert ">No resolved forecasts yet.</text>" in html  # the chart's own empty state
    assert "No domain has a resolved forecast yet." in html
    assert "No stated beliefs." in html
    assert "No active agents." in html
    assert 'id="record-stats"' not in html


def test_unknown_and_suspended_identities_are_404(carol, bot):
    assert Client().get("/id/nobody-here/").status_code == 404
    assert Client().get(f"/id/{carol.handle.upper()}/").status_code == 200  # handles are case-insensitive
    identity_suspend(identity=carol, reason="Testing.", moderator=factories.moderator())
    assert Client().get(f"/id/{carol.handle}/").status_code == 404
    identity_suspend(identity=bot, reason="Testing.", moderator=factories.moderator())
    assert Client().get("/id/alice-bot/").status_code == 404
    assert reverse("identity-detail", args=["alice-bot"]) == "/id/alice-bot/"


def test_resolved_forecasts_are_paged_newest_first(scored, alice, monkeypatch):
    monkeypatch.setattr(views, "SCORES_PAGE_SIZE", 2)
    _, html = page(f"/id/{alice.handle}/")
    first = table(html, "scored-forecasts")
    assert [row[3] for row in first] == ["NO", "YES"]
    cursor = re.search(r'<a href="\?cursor=(\d+)#forecasts" rel="next">Older →</a>', html).group(1)
    _, html = page(f"/id/{alice.handle}/", {"cursor": cursor})
    assert [row[3] for row in table(html, "scored-forecasts")] == ["YES"]
    assert f'<a href="/id/{alice.handle}/#forecasts">← Newest</a>' in html
    assert "Older →" not in html
    refused = Client().get(f"/id/{alice.handle}/", {"cursor": "nope"}, follow=True)
    assert refused.redirect_chain == [(f"/id/{alice.handle}/", 302)]
    assert "cursor is not valid." in refused.content.decode()


def test_the_identity_page_names_who_it_is_counted_as_one_source_with(author, resolver, science, alice, bot):
    # given a person whose beliefs alice's agent has repeated on four resolved claims
    original = factories.human()
    history({original: "0.65", bot: "0.65"}, author, science, resolver, claims=4)

    # then the person's page and the agent's name the other side, with the record
    for page, other in ((original, alice), (bot, original)):
        html = Client().get(f"/id/{page.handle}/").content.decode()
        section = re.search(r'<ul class="identity-list" id="counted-with">(.*?)</ul>', html, re.S).group(1)
        assert f'<a href="/id/{other.handle}/">@{other.handle}</a>' in section
        assert "the same forecast on 4 of 4 resolved claims since" in section
    assert "this agent's owner and them as one source" in Client().get(f"/id/{bot.handle}/").content.decode()
    # and a page nobody is counted with has no such section
    assert 'id="counted-with"' not in Client().get(f"/id/{author.handle}/").content.decode()


def test_the_identity_page_is_a_fixed_number_of_queries(author, resolver, science, economics, alice, bot):
    history({alice: "0.7", bot: "0.6"}, author, science, resolver, claims=2)
    few_html, few = queries(f"/id/{alice.handle}/")
    assert len(table(few_html, "scored-forecasts")) == 2
    more_agents = [factories.agent(alice.user, handle=f"helper-{n}") for n in range(3)]
    history({alice: "0.8", **dict.fromkeys(more_agents, "0.55")}, author, science, resolver, claims=4)
    history({alice: "0.3"}, author, economics, resolver, outcome="no", claims=4)
    many_html, many = queries(f"/id/{alice.handle}/")
    assert (len(table(many_html, "scored-forecasts")), len(table(many_html, "domain-reliability"))) == (10, 2)
    assert many_html.count('<li><a href="/id/') == 4
    # the identity; seven for the track record; agents; the scores page; beliefs; two for the record as a
    # reviewer (leases, decisions)
    assert few == many == 13
    _, agent_queries = queries("/id/alice-bot/")
    assert agent_queries == 11  # the owner's identity instead of the agents, and no reviewer's record


def test_a_persons_page_shows_their_record_as_a_reviewer(alice):
    from apps.reviews import services as reviews

    bot = factories.funded_agent(handle="asks-alice-bot", owner=alice.user)
    asked = factories.question(bot, key="record-1")
    assignment = reviews.review_take_next(reviewer=alice)
    reviews.review_decide(assignment_id=assignment.pk, reviewer=alice, kind="answer", value="yes")
    html = Client().get(f"/id/{alice.handle}/").content.decode()
    card = html[html.index('id="reviewer-record"') :]
    words = " ".join(re.sub(r"<[^>]+>", " ", card[: card.index("</section>")]).split())
    assert "Reviews decided 1" in words
    assert "Agreed with the outcome 100% (1 of 1)" in words
    assert "Leases that ran out 0 of 1" in words
    assert asked.pk == assignment.request_id


# --- Leaderboards -------------------------------------------------------------------------------------

RANKED = 20


@pytest.fixture
def ranked(author, resolver, science, alice, bot, carol):
    """RANKED science claims (factories.ranked_history): alice's agent the sharpest, alice fair, carol poor
    (created in that order), beside four others who are then suspended."""
    factories.ranked_history(bot, alice, carol, author, science, resolver, claims=RANKED)
    return {"alice": alice, "bot": bot, "carol": carol}


def board(html: str) -> list[list[str]]:
    if 'id="leaderboard"' not in html:
        return []
    return table(html, "leaderboard")


def leader(identity, rank: int, domain=None, owner=None) -> list[str]:
    row = Reliability.objects.get(identity=identity, domain=domain)
    scores = Score.objects.filter(identity=identity, **({"domain": domain} if domain else {}))
    brier = sum(scores.values_list("brier", flat=True)) / scores.count()
    name = f"@{identity.handle}"
    if identity.display_name:
        name += f" {identity.display_name}"
    if owner:
        name += f" owned by @{owner}"
    return [
        str(rank),
        name,
        identity.get_kind_display(),
        g(row.weight),
        f"{row.skill_mean:+.3f} ± {row.skill_sd:.3f}",
        str(row.n),
        f4(brier),
    ]


def test_the_leaderboard_ranks_by_reliability_weight(ranked, science):
    alice, bot, carol = ranked["alice"], ranked["bot"], ranked["carol"]
    response, html = page("/leaderboards/")
    assert response.status_code == 200
    assert board(html) == [
        leader(bot, 1, owner=alice.handle),
        leader(alice, 2),
        leader(carol, 3),
    ]
    weights = [Reliability.objects.get(identity=i, domain=None).weight for i in (bot, alice, carol)]
    assert weights[0] > weights[1] > weights[2] > 0  # the agent was created after alice: not by id
    assert '<a href="/id/alice-bot/">@alice-bot</a>' in html
    assert f'owned by <a href="/id/{alice.handle}/">@{alice.handle}</a>' in html
    assert EVIL_ESCAPED in html and "<script>alert" not in html
    assert '<h2 id="board-heading">All domains</h2>' in html
    _, html = page("/leaderboards/", {"domain": "science"})
    assert board(html) == [
        leader(bot, 1, science, owner=alice.handle),
        leader(alice, 2, science),
        leader(carol, 3, science),
    ]
    assert '<option value="science" selected>Science</option>' in html


def test_the_leaderboard_filters_give_exact_rows(ranked):
    alice, bot, carol = ranked["alice"], ranked["bot"], ranked["carol"]

    def handles(**params) -> list[str]:
        response, html = page("/leaderboards/", params)
        assert response.status_code == 200
        return [row[1].split()[0] for row in board(html)]

    assert handles(kind="agent") == [f"@{bot.handle}"]
    assert handles(kind="human") == [f"@{alice.handle}", f"@{carol.handle}"]
    assert handles(domain="economics") == []
    assert handles(min_forecasts=RANKED) == ["@alice-bot", f"@{alice.handle}", f"@{carol.handle}"]
    assert handles(min_forecasts=RANKED + 1) == []
    _, html = page("/leaderboards/", {"min_forecasts": RANKED + 1})
    assert f"Nobody with {RANKED + 1} or more resolved forecasts is ranked here yet." in html
    identity_suspend(identity=carol, reason="Testing.", moderator=factories.moderator())
    assert handles() == ["@alice-bot", f"@{alice.handle}"]
    _, html = page("/leaderboards/", {"domain": "science", "kind": "human", "min_forecasts": "3"})
    assert '<h2 id="board-heading">Science · humans · 3+ resolved forecasts</h2>' in html
    assert [row[1].split()[0] for row in board(html)] == [f"@{alice.handle}"]


@pytest.mark.parametrize(
    ("params", "field", "error"),
    [
        ({"domain": "astrology"}, "domain", "Select a valid choice. astrology is not one of the available choices."),
        ({"kind": "robot"}, "kind", "Select a valid choice. robot is not one of the available choices."),
        ({"min_forecasts": "0"}, "min_forecasts", "Ensure this value is greater than or equal to 1."),
        ({"min_forecasts": "many"}, "min_forecasts", "Enter a whole number."),
    ],
)
def test_bad_leaderboard_filters_show_the_error_beside_the_field(db, params, field, error):
    response, html = page("/leaderboards/", params)
    assert response.status_code == 422
    block = re.search(rf'<div class="field field-invalid">\s*<label for="id_{field}">.*?</div>', html, re.S).group(0)
    assert f"<li>{error}</li>" in block
    if field == "min_forecasts":
        assert f'value="{params[field]}"' in block  # what was typed is kept
    assert 'id="leaderboard"' not in html


def test_htmx_swaps_the_board_and_history_restores_the_page(ranked):
    response, html = page("/leaderboards/", {"kind": "agent"}, **HTMX)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="board" class="board"')
    assert "<html" not in html
    assert [row[1].split()[0] for row in board(html)] == ["@alice-bot"]
    assert "HX-Request" in response["Vary"]
    restore = Client().get(
        "/leaderboards/", {"kind": "agent"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in restore.content.decode()
    _, full = page("/leaderboards/")
    assert 'hx-get="/leaderboards/" hx-target="#board" hx-swap="outerHTML" hx-push-url="true"' in full
    bad, bad_html = page("/leaderboards/", {"min_forecasts": "0"}, **HTMX)
    assert bad.status_code == 422 and bad_html.lstrip().startswith('<section id="board"')
    # the answer swaps only the board (the form stays put), so the board lists what was refused
    assert "<form" not in bad_html
    errors = re.search(r'<div class="alert alert-error" role="alert">.*?</div>', bad_html, re.S).group(0)
    assert re.findall(r"<li>(.*?)</li>", errors) == [
        "At least this many resolved forecasts: Ensure this value is greater than or equal to 1."
    ]


def test_the_leaderboard_pages_by_rank(ranked, monkeypatch):
    monkeypatch.setattr(views, "LEADERBOARD_PAGE_SIZE", 2)
    _, html = page("/leaderboards/", {"kind": "", "min_forecasts": "1"})
    assert [row[0] for row in board(html)] == ["1", "2"]
    assert 'href="?kind=&amp;min_forecasts=1&amp;after=2"' in html
    _, html = page("/leaderboards/", {"kind": "", "min_forecasts": "1", "after": "2"})
    assert [(row[0], row[1].split()[0]) for row in board(html)] == [("3", f"@{ranked['carol'].handle}")]
    assert 'href="?kind=&amp;min_forecasts=1&amp;after=0"' in html
    assert "Lower ranks" not in html
    refused = Client().get("/leaderboards/", {"kind": "agent", "after": "-1"}, follow=True)
    assert refused.redirect_chain == [("/leaderboards/?kind=agent", 302)]
    assert "That page link is not valid: here is the first page." in refused.content.decode()


def test_the_leaderboard_is_a_fixed_number_of_queries(author, resolver, science, alice, bot):
    history({bot: "0.9", alice: "0.6"}, author, science, resolver)
    html, few = queries("/leaderboards/", {"domain": "science"})
    assert len(board(html)) == 2
    owner = factories.verified_user()
    crowd = {factories.agent(owner, handle=f"crowd-{n}"): f"0.{n + 1}" for n in range(6)}
    history(crowd | {factories.human(): "0.8", factories.human(): "0.3"}, author, science, resolver, claims=2)
    html, many = queries("/leaderboards/", {"domain": "science"})
    assert len(board(html)) == 10
    assert few == many == 2  # the domains; one page with identities, owners and Brier scores


# --- The platform track record ------------------------------------------------------------------------


def record_rows(html: str) -> list[list[str]]:
    return table(html, "platform-scores")


def test_the_platform_record_compares_market_consensus_and_the_best_source(
    author, resolver, science, economics, alice, carol
):
    history({alice: "0.8", carol: "0.6"}, author, science, resolver, claims=4)
    history({alice: "0.8", carol: "0.6"}, author, economics, resolver, outcome="no")
    response, html = page("/track-record/")
    assert response.status_code == 200
    consensus = [(float(r.consensus), r.outcome) for r in ClaimRecord.objects.order_by("id")]
    c_brier = sum((c - o) ** 2 for c, o in consensus) / 5
    c_log = sum(math.log(c if o else 1 - c) for c, o in consensus) / 5
    assert '<h2 id="record-heading">All domains: 5 resolved claims</h2>' in html
    assert record_rows(html) == [
        ["Market price at close", "5", "0.2500", f4(math.log(0.5))],  # nobody traded: 0.5 at every close
        ["Consensus at close", "5", f4(c_brier), f4(c_log)],
        [
            f"Best single source: @{alice.handle} (human)",
            "5",
            f4((4 * 0.04 + 0.64) / 5),
            f4((4 * math.log(0.8) + math.log(0.2)) / 5),
        ],
    ]
    assert f'<a href="/id/{alice.handle}/">@{alice.handle}</a>' in html
    assert "These figures rest on 5 claims, which is few" in html
    assert "at least 5 scored forecasts" in html
    # The chart: the market's five forecasts of 50%, four of them YES, at (50%, 80%).
    assert '<figure class="chart chart-calibration" id="platform-calibration">' in html
    assert f'<circle class="chart-point" cx="220" cy="84" r="{point_radius(5):.1f}"' in html
    legend = re.search(r'<ul class="chart-legend"[^>]*>(.*?)</ul>', html, re.S).group(1)
    assert cells(legend.replace("<li>", "<td>").replace("</li>", "</td>")) == [
        "Market price at close",
        "Consensus at close",
        f"Best single source (@{alice.handle})",
        "Perfect calibration",
    ]


def test_the_platform_record_by_domain(author, resolver, science, economics, alice, carol):
    history({alice: "0.8", carol: "0.6"}, author, science, resolver, claims=2)
    _, html = page("/track-record/", {"domain": "science"})
    assert '<h2 id="record-heading">Science: 2 resolved claims</h2>' in html
    assert '<option value="science" selected>Science</option>' in html
    assert record_rows(html)[2] == ["Best single source", "0", "—", "—"]  # nobody has 5 forecasts
    assert "No identity has 5 or more scored forecasts in Science yet" in html
    _, html = page("/track-record/", {"domain": "economics"})
    assert '<h2 id="record-heading">Economics: 0 resolved claims</h2>' in html
    assert record_rows(html) == [
        ["Market price at close", "0", "—", "—"],
        ["Consensus at close", "0", "—", "—"],
        ["Best single source", "0", "—", "—"],
    ]
    assert ">No resolved forecasts yet.</text>" in html
    response, html = page("/track-record/", {"domain": "astrology"})
    assert response.status_code == 422
    assert "<li>Select a valid choice. astrology is not one of the available choices.</li>" in html
    assert 'id="platform-scores"' not in html
    response, html = page("/track-record/", {"domain": "science"}, **HTMX)
    assert html.lstrip().startswith('<section id="record" class="board"') and "<html" not in html


def test_the_platform_record_is_a_fixed_number_of_queries(author, resolver, science, alice, carol):
    forecasters = {alice: "0.8", carol: "0.6"}
    history(forecasters, author, science, resolver, claims=5)
    html, few = queries("/track-record/")
    assert record_rows(html)[0][1] == "5"
    history(forecasters | {factories.human(): "0.9"}, author, science, resolver, claims=6)
    html, many = queries("/track-record/")
    assert record_rows(html)[0][1] == "11"
    assert few == many == 5  # the domains; the records; the best source; its identity; its forecasts


def test_the_navigation_links_to_both_pages(db):
    _, html = page("/leaderboards/")
    assert '<a href="/leaderboards/" aria-current="page">Leaderboards</a>' in html
    assert '<a href="/track-record/">Track record</a>' in html
    _, html = page("/track-record/")
    assert '<a href="/track-record/" aria-current="page">Track record</a>' in html
