"""Screenshots of the claim page and the claim list, from a realistic market built through the services.

They are always taken (and checked to be images of the page at the width asked for); with
CREDENCE_UPDATE_SCREENSHOTS=1 they are also written to docs/screenshots/, which the README shows."""

import os
import shutil
import struct
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from apps.markets.models import Claim, Position, PricePoint, Trade
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from apps.reputation.models import Belief
from apps.reputation.services import belief_state, consensus_refresh
from tests import factories
from tests.factories import fund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CREDIT = 1_000_000

CLAIMS = [
    ("science", "Will the registered replication of the ego-depletion effect report p < 0.05?"),
    ("economics", "Will the central bank cut its policy rate at its next meeting?"),
    ("technology", "Will an open-weights model top the coding leaderboard before the end of the quarter?"),
    ("politics", "Will the coalition agreement be signed before the summer recess?"),
    ("science", "Will this month set a new global temperature record for the month?"),
    ("economics", "Will quarterly GDP growth come in above 0.5%?"),
    ("technology", "Will the new battery chemistry reach 500 Wh/kg in an independent test?"),
    ("science", "Will the comet be visible to the naked eye from Europe?"),
]


def _person(name: str):
    return factories.human(factories.verified_user(email=f"{name.lower()}@example.com", display_name=name))


def _spread(claim, start, step: timedelta) -> None:
    """Give the claim's history a realistic span: its publication at `start`, then each trade and belief
    `step` after the one before, in the order they were made (the services stamp them all with now)."""
    Claim.objects.filter(pk=claim.pk).update(created_at=start)
    PricePoint.objects.filter(market__claim=claim, trade__isnull=True).update(created_at=start)
    moments = sorted(
        [("trade", t.pk, t.created_at) for t in Trade.objects.filter(market__claim=claim)]
        + [("belief", b.pk, b.created_at) for b in Belief.objects.filter(claim=claim)],
        key=lambda row: (row[2], row[1]),
    )
    for n, (kind, pk, _) in enumerate(moments, start=1):
        at = start + n * step
        if kind == "trade":
            Trade.objects.filter(pk=pk).update(created_at=at)
            PricePoint.objects.filter(trade_id=pk).update(created_at=at)
        else:
            Belief.objects.filter(pk=pk).update(created_at=at)
    for position in Position.objects.filter(market__claim=claim):  # "traded 3 days ago" reads updated_at
        last = Trade.objects.filter(market=position.market_id, identity=position.identity_id).latest("id")
        Position.objects.filter(pk=position.pk).update(updated_at=last.created_at)


def _market() -> list:
    """The claims of the screenshots, built through the services: a claim traded by people and agents over
    twelve days, with beliefs and their rationales; and eight claims across four domains."""
    author = _person("Ada")
    fund(author, 2000)
    claims = []
    for slug, title in CLAIMS:
        closes_in = timedelta(days=10 + len(claims) * 3)
        claim = factories.new_claim(
            author,
            factories.domain(slug),
            title=title,
            criteria=f"Resolves YES if {title[5:-1].lower()}, as reported by the source named in the first "
            "clarification; NO otherwise.",
            tags=[slug, "demo"],
            closes_in=closes_in,
            resolves_in=timedelta(days=40) - closes_in,
        )
        claims.append(claim)
    bruno, chiara, dmitri, elena = (_person(name) for name in ("Bruno", "Chiara", "Dmitri", "Elena"))
    owner = factories.verified_user(email="fay@example.com", display_name="Fay")
    base_rate, news = (
        factories.agent(owner, handle=h, model_name="m", provider="p") for h in ("base-rate-bot", "news-bot")
    )
    for bot in (base_rate, news):
        fund(bot, 200)
    main = claims[0]
    moves = [
        (bruno, Order(kind="buy", side="yes", amount=25 * CREDIT)),
        (base_rate, Order(kind="belief", belief=Decimal("0.42"), amount=30 * CREDIT)),
        (chiara, Order(kind="buy", side="yes", amount=15 * CREDIT)),
        (dmitri, Order(kind="buy", side="no", amount=8 * CREDIT)),
        (news, Order(kind="belief", belief=Decimal("0.66"), amount=20 * CREDIT)),
        (dmitri, Order(kind="buy", side="no", amount=10 * CREDIT)),
        (elena, Order(kind="buy", side="yes", amount=12 * CREDIT)),
        (base_rate, Order(kind="belief", belief=Decimal("0.48"), amount=15 * CREDIT)),
        (bruno, Order(kind="buy", side="yes", amount=6 * CREDIT)),
    ]
    for i, (who, order) in enumerate(moves):
        trade_place(identity=who, claim=main, order=order, idempotency_key=f"shot:{i}")
        if i == 3:
            belief_state(
                identity=dmitri,
                claim=main,
                probability="0.35",
                rationale="The original effect was small and the replication is twice as large: I expect it to vanish.",
                idempotency_key="shot:b1",
            )
        if i == 6:
            belief_state(
                identity=chiara,
                claim=main,
                probability="0.7",
                rationale="Preregistered, with the original authors' protocol and a manipulation check.",
                idempotency_key="shot:b2",
            )
    _spread(main, timezone.now() - timedelta(days=12), timedelta(hours=26))
    people = [bruno, chiara, dmitri, elena]
    for n, claim in enumerate(claims[1:], start=1):
        trade_place(
            identity=people[n % 4],
            claim=claim,
            order=Order(kind="buy", side="yes" if n % 2 else "no", amount=(5 + 3 * n) * CREDIT),
            idempotency_key=f"shot:list:{n}",
        )
        if n % 3 == 0:  # a source that disagrees with the market
            belief_state(
                identity=people[(n + 1) % 4],
                claim=claim,
                probability="0.2" if n % 2 else "0.8",
                idempotency_key=f"shot:list:b{n}",
            )
        _spread(claim, timezone.now() - timedelta(days=n), timedelta(hours=6))
    for claim in claims:
        consensus_refresh(claim=claim)
    return [main, bruno.user]


def _png_width(path: Path) -> int:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">I", header[16:20])[0]


def _shoot(page, path: str, file: Path, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(path)
    page.wait_for_load_state("networkidle")
    # Playwright hides the caret with an injected <style>, which the CSP refuses: keep the caret.
    page.screenshot(path=str(file), full_page=True, caret="initial")


def test_screenshots_of_the_claim_page_and_the_claim_list(open_page, tmp_path):
    claim, trader = _market()
    shots = {
        "claim-page.png": (trader, f"/claims/{claim.pk}/", 1280),
        "claim-list.png": (trader, "/", 1280),
        "claim-page-phone.png": (trader, f"/claims/{claim.pk}/", 390),
    }
    for name, (user, path, width) in shots.items():
        page = open_page(user, path)
        _shoot(page, path, tmp_path / name, width)
        assert _png_width(tmp_path / name) == width  # device scale 1: one pixel per CSS pixel
        if width == 390:  # nothing scrolls sideways on a phone
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    if os.environ.get("CREDENCE_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in shots:
            shutil.copyfile(tmp_path / name, DOCS / name)
