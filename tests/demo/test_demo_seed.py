"""`manage.py demo_seed`: the demo state of `make run`, built through the real services, loaded once."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from django.db.models import F, Max, Sum
from django.utils import timezone

from apps.accounts.models import User, VerificationLevel
from apps.agents.models import AgentRun, HostedAgent
from apps.agents.services import agents_dispatch, run_execute
from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.demo import catalogue as demo_catalogue
from apps.demo.management.commands.demo_seed import DEMO_PASSWORD, FUNDING, HISTORY_CLAIMS
from apps.identities.models import ApiKey, Identity, IdentityKind
from apps.ledger.models import Account, Entry, Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance
from apps.markets.models import Claim, ClaimStatus, Market, Trade
from apps.markets.selectors import claims_listed
from apps.realtime.models import Notification
from apps.reputation.maths import NEWCOMER_WEIGHT
from apps.reputation.models import Belief, ClaimRecord, Consensus
from apps.reputation.selectors import leaderboard

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    """The demo key's token file goes to the data folder: a temporary one here."""
    settings.DATA_DIR = tmp_path


def seed(*args: str) -> str:
    """demo_seed without its simulated history unless asked (it is tested on its own below)."""
    out = StringIO()
    call_command("demo_seed", "--history", "0", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    return {
        "users": list(User.objects.order_by("pk").values_list("pk", "email", "verification_level", "password")),
        "emails": list(EmailAddress.objects.order_by("pk").values_list("pk", "email", "verified", "primary")),
        "identities": list(Identity.objects.order_by("pk").values_list("pk", "kind", "handle", "owner_id")),
        "accounts": list(Account.objects.order_by("pk").values_list("pk", "balance")),
        "transfers": Transfer.objects.count(),
        "entries": Entry.objects.count(),
        "events": Event.objects.count(),
        "api_keys": list(ApiKey.objects.order_by("pk").values_list("pk", "secret_sha256")),
    }


def _spent(identity) -> int:
    """Credit an identity's trades and published claims took from its wallet."""
    trades = Trade.objects.filter(identity=identity).aggregate(total=Sum(F("cost") + F("fee")))["total"] or 0
    subsidies = Market.objects.filter(claim__author=identity).aggregate(total=Sum("subsidy"))["total"] or 0
    return trades + subsidies


def test_demo_seed_creates_verified_people_a_moderator_and_agents():
    output = seed()

    alice = User.objects.get(email="alice@example.com")
    bob = User.objects.get(email="bob@example.com")
    moderator = User.objects.get(email="moderator@example.com")
    # verified humans: the demo's people propose outcomes, sit on dispute panels and fund agents past the
    # unverified limits, and so does everyone of the demo's past
    assert set(User.objects.values_list("verification_level", flat=True)) == {VerificationLevel.VERIFIED_HUMAN}
    for user in (alice, bob, moderator):
        assert user.verification_level == VerificationLevel.VERIFIED_HUMAN
        assert user.check_password(DEMO_PASSWORD)
        assert EmailAddress.objects.filter(user=user, email=user.email, verified=True, primary=True).exists()
        assert Identity.objects.filter(user=user, kind=IdentityKind.HUMAN).exists()
    assert (moderator.is_staff, moderator.is_superuser) == (True, True)
    assert (alice.is_staff, bob.is_staff) == (False, False)

    agents = {agent.handle: agent for agent in Identity.objects.filter(kind=IdentityKind.AGENT)}
    assert sorted(agents) == sorted(
        ["base-rate-bot", "bobs-extremizer", "consensus-tracker", *(a.handle for a in demo_catalogue.AGENTS)]
    )
    assert {agents["base-rate-bot"].owner_id, agents["consensus-tracker"].owner_id} == {alice.pk}
    assert agents["bobs-extremizer"].owner_id == bob.pk
    # Agents of several owners, each owner a verified person of the demo.
    assert len({agent.owner_id for agent in agents.values()}) == 5
    for agent in agents.values():
        assert agent.model_name and agent.provider and agent.model_version and agent.autonomy_level

    grant = 1000 * CREDIT
    # Owners funded their agents; authors paid their markets' subsidies; traders paid cost + fee. Each
    # wallet is its grant (a person) or its funding (an agent) less exactly what its own trades and
    # subsidies took (ledger entries): nothing is settled without a history.
    funded_out, funded_in = {}, {}
    for owner_email, handle, credits in FUNDING:
        funded_out[owner_email] = funded_out.get(owner_email, 0) + credits * CREDIT
        funded_in[handle] = credits * CREDIT
    assert wallet_balance(agents["base-rate-bot"]) == 250 * CREDIT - _spent(agents["base-rate-bot"])
    assert funded_out["alice@example.com"] == (250 + 100) * CREDIT
    for identity in Identity.objects.select_related("user"):
        if identity.kind == IdentityKind.AGENT:
            assert wallet_balance(identity) == funded_in[identity.handle] - _spent(identity), identity.handle
        else:
            expected = grant - funded_out.get(identity.user.email, 0) - _spent(identity)
            assert wallet_balance(identity) == expected, identity.handle
    # The open claims: two in each domain, each with a price history and a consensus.
    open_claims = Claim.objects.filter(status=ClaimStatus.OPEN)
    assert open_claims.count() == len(demo_catalogue.OPEN_CLAIMS) == 16
    assert sorted(open_claims.values_list("domain__slug", flat=True).distinct()) == sorted(
        {"science", "technology", "economics", "politics", "health", "climate", "sports", "culture"}
    )
    for claim in open_claims:
        assert Trade.objects.filter(market__claim=claim).exists(), claim.title
        assert Consensus.objects.get(claim=claim).contributors > 0, claim.title
    assert not Claim.objects.exclude(status=ClaimStatus.OPEN).exists()
    assert ledger_verify_report().ok

    assert "alice@example.com" in output
    assert f"password for each: {DEMO_PASSWORD}" in output


def test_running_demo_seed_twice_changes_nothing():
    seed()
    before = snapshot()

    output = seed()

    assert snapshot() == before
    assert "already loaded" in output
    assert ledger_verify_report().ok
    verify = StringIO()
    call_command("ledger_verify", stdout=verify)
    assert "ledger_verify: clean" in verify.getvalue()


def test_demo_seed_hosts_two_agents_due_at_once():
    seed()

    hosted = {h.identity.handle: h for h in HostedAgent.objects.select_related("identity")}
    assert sorted(hosted) == ["base-rate-bot", "consensus-tracker"]
    assert (hosted["base-rate-bot"].strategy, hosted["base-rate-bot"].every_minutes) == ("base_rate", 10)
    assert hosted["base-rate-bot"].on_claim_opened is True
    assert (hosted["consensus-tracker"].strategy, hosted["consensus-tracker"].every_minutes) == (
        "consensus_arbitrage", 15
    )  # fmt: skip
    assert all(h.next_run_at <= timezone.now() and not h.stopped_by for h in hosted.values())


def test_a_demo_user_can_sign_in_through_allauth(client):
    seed()

    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": DEMO_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").context["user"].email == "alice@example.com"


def test_demo_seed_refuses_production_settings(settings):
    settings.SETTINGS_MODULE = "config.settings.production"

    with pytest.raises(CommandError, match="production"):
        seed()

    assert not User.objects.exists()


def test_demo_seed_prints_a_working_api_key_on_every_run(client):
    first = seed()
    line = next(line for line in first.splitlines() if line.startswith("API key of @base-rate-bot"))
    token = line.rsplit(" ", 1)[1]
    assert ApiKey.objects.filter(identity__handle="base-rate-bot", name="demo").count() == 1

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["identity"]["handle"] == "base-rate-bot"
    assert me.json()["scopes"] == ["read", "trade"]
    assert line in seed()  # the same key, printed again, not a second one
    assert ApiKey.objects.filter(identity__handle="base-rate-bot").count() == 1


def test_demo_seed_resolves_a_history_once():
    first = seed("--history", "8")
    before = snapshot()

    second = seed("--history", "8")

    assert ClaimRecord.objects.count() == 8
    assert Claim.objects.filter(status__in=[ClaimStatus.RESOLVED_YES, ClaimStatus.RESOLVED_NO]).count() == 8
    assert snapshot() == before
    assert re.search(r"History: 8 claims resolved and scored \(closed \d\d \w{3} \d{4} to \d\d \w{3} \d{4}\)", first)
    assert "History" not in second and "already loaded" in second
    assert ledger_verify_report().ok


# The words the old simulated history put in every title; a real site's claims say none of them.
SIMULATION_WORDS = re.compile(r"demo-history|simulat|\[", re.IGNORECASE)


def test_the_full_demo_reads_like_a_real_site_and_loads_once(client):
    """The demo of `make run`: open claims first on the home page, realistic titles everywhere, months of
    resolved history with dates in the past, forecasters of different skill on the leaderboards."""
    call_command("demo_seed", stdout=StringIO())
    now = timezone.now()

    # The home page: its first rows are the open claims, then the history, newest first.
    home = client.get("/")
    assert home.status_code == 200
    shown = [int(pk) for pk in re.search(r'data-live-claims="([^"]*)"', home.content.decode()).group(1).split()]
    statuses = dict(claims_listed().filter(pk__in=shown).values_list("pk", "effective_status"))
    assert len(shown) == 20
    assert [statuses[pk] for pk in shown[:16]] == [ClaimStatus.OPEN] * 16
    assert ClaimStatus.OPEN not in [statuses[pk] for pk in shown[16:]]
    assert "Will " in home.content.decode() and not SIMULATION_WORDS.search(
        " ".join(Claim.objects.filter(pk__in=shown).values_list("title", flat=True))
    )

    # Every title reads like a real claim: a question, no simulation words; every criterion names its
    # source (a link) and the history's resolutions say where their outcome came from.
    claims = list(Claim.objects.select_related("resolution"))
    assert len(claims) == 16 + HISTORY_CLAIMS
    assert len({claim.title for claim in claims}) == len(claims)
    for claim in claims:
        assert claim.title.startswith("Will ") and claim.title.endswith("?"), claim.title
        assert not SIMULATION_WORDS.search(claim.title), claim.title
        assert "https://" in claim.criteria and "Resolves YES if" in claim.criteria, claim.title
    history = [claim for claim in claims if claim.status != ClaimStatus.OPEN]
    assert len(history) == HISTORY_CLAIMS == ClaimRecord.objects.count()
    for claim in history:
        assert claim.status in {ClaimStatus.RESOLVED_YES, ClaimStatus.RESOLVED_NO}
        resolution = claim.resolution
        assert claim.opens_at < claim.closes_at < resolution.proposed_at < claim.settled_at < now
        assert resolution.evidence.startswith("Demo history: this outcome was drawn by manage.py demo_seed")
    # Time ran forward, in the past: rows are in id order in time, and none is in the future.
    for model_class in (Trade, Belief, Event, Entry):
        times = list(model_class.objects.order_by("pk").values_list("created_at", flat=True))
        assert times == sorted(times) and times[-1] < now, model_class.__name__
    assert User.objects.get(email="alice@example.com").date_joined < min(c.opens_at for c in claims)
    assert not Notification.objects.filter(read_at__isnull=True).exists()  # the past's news was read
    # The demo's clock is gone: a new row gets the real time.
    assert abs(Notification._meta.get_field("created_at").get_default() - timezone.now()) < timedelta(minutes=1)

    # The leaderboards: each deep domain's specialist leads, weighs a real multiple of a newcomer and of
    # the board's last; overall, the forecasters who add nothing or worse fall below the newcomer's weight.
    for domain, leader in (("economics", "chen"), ("climate", "marta"), ("politics", "poll-aggregator")):
        board = list(leaderboard(domain_id=Claim.objects.filter(domain__slug=domain).first().domain_id))
        assert board[0].identity.handle == leader, domain
        assert board[0].weight >= 10 * NEWCOMER_WEIGHT, (domain, board[0].weight)
        assert board[0].weight >= 5 * board[-1].weight, (domain, board[0].weight, board[-1].weight)
        page = client.get("/leaderboards/", {"domain": domain}).content.decode()
        assert f"@{leader}" in page
    overall = list(leaderboard(domain_id=None))
    assert len(overall) == 18
    assert overall[-1].weight < NEWCOMER_WEIGHT / 2
    weights = [row.weight for row in overall]
    assert max(weights) >= 2 * min(weights) and len({round(w, 5) for w in weights}) >= 5

    # Loaded once: a second run changes nothing, and the ledger is clean.
    before = snapshot()
    out = StringIO()
    call_command("demo_seed", stdout=out)
    assert snapshot() == before
    assert "already loaded" in out.getvalue()
    verify = StringIO()
    call_command("ledger_verify", stdout=verify)
    assert "ledger_verify: clean" in verify.getvalue()
    assert Event.objects.aggregate(last=Max("created_at"))["last"] < now

    # The two hosted agents are due: the first beat tick runs them, and each trades on its own.
    run_ids = agents_dispatch()
    assert len(run_ids) == 2
    for run_id in run_ids:
        assert run_execute(run_id=run_id) == "succeeded"
    for handle in ("base-rate-bot", "consensus-tracker"):
        run = AgentRun.objects.get(pk__in=run_ids, agent__identity__handle=handle)
        assert run.orders_placed >= 1, (handle, run.journal)
        assert run.spent <= run.agent.budget_per_run
    assert ledger_verify_report().ok
