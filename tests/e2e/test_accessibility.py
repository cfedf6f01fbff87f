"""What the pages look like to a reader, measured in Chromium: text contrast against WCAG AA on every main
page, with the data that makes most of their parts render; and user text (a word of 120 letters without a
break) that never widens a phone's page into sideways scrolling."""

import pytest
from playwright.sync_api import expect

from apps.markets.models import Claim, ClaimStatus, Resolution
from apps.markets.resolution import resolution_challenge
from apps.markets.services import claim_clarify
from apps.reputation.services import belief_state, consensus_refresh
from tests import factories
from tests.factories import buy, close, fund, new_claim, resolve

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
WAIT = 15_000  # ms
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# Every visible element with a text node of its own: its colour against the background it is painted on
# (its own and its ancestors' background colours composited, alpha and opacity included, over the page's),
# and the ratio WCAG 2.x asks for: 3:1 for large text (24px, or 18.66px bold), 4.5:1 otherwise. Text over
# a background image and disabled controls (exempt in WCAG) are set aside, the former reported.
CONTRAST_SCRIPT = """
() => {
  const parse = (value) => {
    const m = /^rgba?\\(([\\d.]+),\\s*([\\d.]+),\\s*([\\d.]+)(?:,\\s*([\\d.]+))?\\)$/.exec(value);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])] : null;
  };
  const over = (top, bottom) => {  // top (with alpha) composited over an opaque bottom
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const hex = (c) => "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  const describe = (el) => {
    const parts = [];
    for (let node = el; node && node !== document.body && parts.length < 4; node = node.parentElement) {
      let part = node.tagName.toLowerCase();
      if (node.id) { parts.unshift(part + "#" + node.id); break; }
      const classes = [...node.classList].slice(0, 2);
      if (classes.length) part += "." + classes.join(".");
      parts.unshift(part);
    }
    return parts.join(" > ");
  };
  const hidden = (el) => {  // clipped away (.visually-hidden), off the page (.skip-link), or not rendered
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return true;
    const box = el.getBoundingClientRect();
    if (box.width < 2 || box.height < 2 || box.right <= 0 || box.bottom + window.scrollY <= 0) return true;
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      const b = node.getBoundingClientRect();
      if (style.overflow !== "visible" && b.width <= 1 && b.height <= 1) return true;
    }
    return false;
  };
  // The text an element shows itself: its own text nodes, a form control's value or placeholder, and
  // the generated content of its ::before and ::after (portfolio cells are labelled so on a phone).
  const texts = (el) => {
    const found = [];
    const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (own.length) found.push([own.map((n) => n.textContent).join(" "), null]);
    if (el.matches("input:not([type=hidden], [type=checkbox], [type=radio]), textarea")) {
      if (el.value.trim()) found.push([el.value, null]);
      else if (el.placeholder.trim()) found.push([el.placeholder, "::placeholder"]);
    }
    for (const pseudo of ["::before", "::after"]) {
      const content = getComputedStyle(el, pseudo).content;
      if (content && !["none", "normal", '""'].includes(content)) found.push([content, pseudo]);
    }
    return found.map(([text, pseudo]) => [text.trim().replace(/\\s+/g, " ").slice(0, 60), pseudo]);
  };
  const failures = [], skipped = [];
  let checked = 0;
  const check = (el, text, pseudo) => {
    const style = getComputedStyle(el, pseudo);
    const svg = el instanceof SVGElement;
    const colour = parse(svg ? style.fill : style.color);
    if (colour === null) {
      failures.push({ where: describe(el), text, problem: "unread colour " + (svg ? style.fill : style.color) });
      return;
    }
    if (svg) colour[3] *= Number(style.fillOpacity);
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const own = getComputedStyle(node);
      colour[3] *= Number(own.opacity);
      if (own.backgroundImage !== "none") {
        skipped.push({ where: describe(el), text, image: describe(node) });
        return;
      }
      const layer = parse(own.backgroundColor);
      if (layer && layer[3] > 0) layers.push(layer);
    }
    let background = [255, 255, 255, 1];  // the canvas, under the html and body backgrounds
    for (const layer of layers.reverse()) background = over(layer, background);
    const painted = over(colour, background);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    const measured = ratio(painted, background);
    checked += 1;
    if (measured < needed) {
      failures.push({ where: describe(el) + (pseudo || ""), text, colour: hex(painted), background: hex(background),
                      ratio: Math.floor(measured * 100) / 100, needed, size, bold });
    }
  };
  for (const el of document.body.querySelectorAll("*")) {
    const shown = texts(el);
    if (!shown.length || hidden(el) || el.closest(":disabled, [aria-disabled='true']")) continue;
    for (const [text, pseudo] of shown) check(el, text, pseudo);
  }
  return { checked, failures, skipped };
}
"""


@pytest.fixture
def domain(db):
    return factories.domain()


def _contrast(page, label: str) -> tuple[int, list[str], list[str]]:
    found = page.evaluate(CONTRAST_SCRIPT)
    failures = [f"{label}: {failure}" for failure in found["failures"]]
    skipped = [f"{label}: {skip}" for skip in found["skipped"]]
    return found["checked"], failures, skipped


def _person(name: str):
    return factories.human(factories.verified_user(email=f"{name.lower()}@example.com", display_name=name))


def _pages_with_everything(domain) -> dict:
    """A viewer with an open position (trades, beliefs with rationales, a clarification, a consensus), a
    position in a claim whose outcome is proposed and open to challenge, and a payout from a resolved one
    (scores, a leaderboard, a platform record, notifications); an agent with provenance."""
    author, resolver = _person("Ada"), _person("Rui")
    viewer, other = _person("Vera"), _person("Otto")
    owner = factories.verified_user(email="fay@example.com", display_name="Fay")
    bot = factories.agent(
        owner, handle="base-rate-bot", model_name="m-1", provider="p", homepage_url="https://example.com/bot"
    )
    fund(bot, 100)

    open_claim = new_claim(author, domain)
    claim_clarify(claim=open_claim, actor=author, text="The replication counts once its preprint is public.")
    buy(viewer, open_claim, "yes", credits=20, key="open:viewer")
    buy(other, open_claim, "no", credits=8, key="open:other")
    buy(bot, open_claim, "yes", credits=5, key="open:bot")
    for n, (who, probability) in enumerate([(viewer, "0.7"), (other, "0.35")]):
        belief_state(
            identity=who,
            claim=open_claim,
            probability=probability,
            rationale="Preregistered, with the original authors' protocol.",
            idempotency_key=f"open:belief:{n}",
        )
    consensus_refresh(claim=open_claim)

    proposed = new_claim(author, domain)
    buy(viewer, proposed, "no", credits=6, key="proposed:viewer")
    close(proposed)
    factories.propose(proposed, "yes", resolver, evidence="The paper reports p = 0.01.")

    for n in range(2):
        resolved = new_claim(author, domain)
        buy(viewer, resolved, "yes", credits=10, key=f"resolved:{n}:viewer")
        buy(other, resolved, "no", credits=4, key=f"resolved:{n}:other")
        buy(bot, resolved, "yes", credits=3, key=f"resolved:{n}:bot")
        resolve(resolved, "yes", resolver)
    assert Claim.objects.filter(status=ClaimStatus.RESOLVED_YES).count() == 2
    assert Resolution.objects.get(claim=proposed).challenger_id is None
    return {"viewer": viewer, "bot": bot, "open": open_claim, "proposed": proposed, "resolved": resolved}


def test_text_on_the_main_pages_has_the_contrast_wcag_aa_asks_for(open_page, domain):
    made = _pages_with_everything(domain)
    viewer = made["viewer"].user
    # each page, who sees it, and what must be on it for the check to cover its parts
    pages = {
        "home, signed out": (None, "/", ".intro .lead"),
        "claim list": (viewer, "/", ".claim-row .figure-consensus"),
        "open claim": (
            viewer,
            f"/claims/{made['open'].pk}/",
            ".clarifications, .belief-rationale, #claim-position .facts",
        ),
        "proposed claim": (
            viewer,
            f"/claims/{made['proposed'].pk}/",
            "#claim-resolution .evidence, #claim-resolution form",
        ),
        "resolved claim": (viewer, f"/claims/{made['resolved'].pk}/", "#claim-resolution .final-outcome, .payout"),
        "post a claim": (viewer, "/claims/new", "#claim-preview"),
        "portfolio": (viewer, "/portfolio/", "[id^='position-row-'], [id^='resolved-row-']"),
        "identity": (None, f"/id/{made['viewer'].handle}/", "#record-stats"),
        "agent identity": (None, f"/id/{made['bot'].handle}/", "#provenance"),
        "leaderboards": (None, "/leaderboards/", "#leaderboard tbody tr"),
        "track record": (None, "/track-record/", "#platform-scores, #platform-calibration"),
        "notifications": (viewer, "/notifications/", ".notification-unread"),
    }
    checked, failures, skipped = {}, [], []
    for label, (user, path, shows) in pages.items():
        page = open_page(user, path)
        page.set_viewport_size(DESKTOP)
        for selector in shows.split(", "):
            expect(page.locator(selector).first).to_be_visible()
        if label == "open claim":  # the ticket's quote, with its warning
            page.locator("#ticket").get_by_label("Amount to spend (credits, fee included)").fill("5000")
            expect(page.locator("#ticket .quote-warning")).to_be_visible(timeout=WAIT)
        if label == "post a claim":  # the preview as typed, and an error beside its field
            page.get_by_label("Title").fill("Will the preview read well?")
            page.get_by_label("Liquidity b (credits)").fill("1")
            expect(page.locator("#id_liquidity_errors li")).to_have_count(1, timeout=WAIT)
            expect(page.locator("#claim-preview .claim-preview-title")).to_have_text("Will the preview read well?")
        page.evaluate("document.querySelectorAll('details').forEach((details) => { details.open = true; })")
        count, failed, set_aside = _contrast(page, label)
        checked[label] = count
        failures += failed
        skipped += set_aside
        if label in ("claim list", "open claim", "portfolio"):  # and on a phone, where the layout changes
            page.set_viewport_size(PHONE)
            count, failed, set_aside = _contrast(page, f"{label} (phone)")
            failures += failed
            skipped += set_aside
    assert all(count > 10 for count in checked.values()), checked  # the walk found the pages' text
    assert failures == [], "\n".join([*failures, "set aside (on a background image):", *skipped])
    assert skipped == []  # no text sits on a background image today: if some does, check it by eye


# --- Long words on a phone ----------------------------------------------------------------------------

WORD = ("Pneumonoultramicroscopicsilicovolcanoconiosis" * 3)[:120]  # 120 letters, nowhere to break


def test_words_of_120_letters_in_user_text_do_not_make_a_phone_scroll_sideways(open_page, domain):
    # given user text with a word of 120 letters wherever a person writes: a claim's title, criteria and
    # clarification, beliefs' rationales, a proposal's and a challenge's evidence, a display name, a handle
    # of 40 letters, an agent's declared provenance; and a resolved claim of the same kind (notifications,
    # scores, leaderboards)
    assert len(WORD) == 120 and " " not in WORD
    author, resolver, challenger = _person("Ada"), _person("Rui"), _person("Cleo")
    viewer = factories.human(factories.verified_user(email="vera@example.com", display_name=WORD[:80]))
    owner = factories.verified_user(email="fay@example.com", display_name="Fay")
    bot = factories.agent(
        owner,
        handle="b" * 40,
        model_name=WORD,
        provider="p",
        description=f"Reads {WORD} and answers.",
        homepage_url=f"https://example.com/{WORD}",
    )
    fund(bot, 100)
    claims = []
    for n in range(2):
        claim = new_claim(
            author,
            domain,
            title=f"Will {WORD} replicate?",
            criteria=f"YES if {WORD} is reported.",
            tags=["m" * 40, "replication"],
        )
        claim_clarify(claim=claim, actor=author, text=f"{WORD} counts once public.")
        buy(viewer, claim, "yes", credits=10, key=f"long:{n}:viewer")
        buy(bot, claim, "no", credits=4, key=f"long:{n}:bot")
        for who in (viewer, bot):
            belief_state(identity=who, claim=claim, probability="0.7", rationale=WORD, idempotency_key=f"long:{n}")
        claims.append(claim)
    disputed, resolved = claims
    close(disputed)
    factories.propose(disputed, "yes", resolver, evidence=f"The paper: {WORD}.")
    resolution_challenge(claim=disputed, challenger=challenger, evidence=f"Not so: {WORD}.")
    resolve(resolved, "yes", resolver)
    paths = [
        f"/claims/{disputed.pk}/",
        f"/claims/{resolved.pk}/",
        "/",
        "/portfolio/",
        f"/id/{viewer.handle}/",
        f"/id/{bot.handle}/",
        f"/id/{factories.human(owner).handle}/",  # its owner's page lists it
        "/leaderboards/",
        "/track-record/",
        "/notifications/",
        "/claims/new",
    ]

    page = open_page(viewer.user, None)
    page.set_viewport_size(PHONE)
    widths = {}
    for path in paths:
        response = page.goto(path)
        assert response.status == 200, path
        if path == "/claims/new":  # the preview of what is typed
            page.get_by_label("Title").fill(f"Will {WORD}?")
            page.get_by_label("Resolution criteria").fill(WORD)
            expect(page.locator("#claim-preview .claim-preview-criteria")).to_have_text(WORD, timeout=WAIT)
        elif path != "/track-record/":  # (which names no identity with fewer than 5 scored forecasts)
            expect(page.get_by_text(WORD[:80]).first).to_be_visible()  # the long word is on the page
        assert page.evaluate("window.innerWidth") == PHONE["width"]
        widths[path] = page.evaluate("document.documentElement.scrollWidth")
    # then no page is wider than the screen
    assert widths == {path: PHONE["width"] for path in paths}
