"""Demo data for a local run: a few people, a moderator, agents with provenance, one funded agent,
and a resolved history from a small reputation simulation so that track records and the platform's
record have something to show.

Everything goes through the real services (onboarding, agent registration, ledger, markets,
resolution, scoring), so the demo state is one the product could have reached by itself. Idempotent:
a second run finds every row and changes nothing (transfers replay by idempotency key; the history
is made in one transaction and skipped once its rows exist).
"""

import os
from datetime import timedelta
from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.services import user_email_verified
from apps.core.amounts import CREDIT, format_credits
from apps.identities.models import ApiKey, AutonomyLevel, Identity
from apps.identities.services import agent_create, api_key_create
from apps.ledger.selectors import wallet_balance
from apps.ledger.services import wallet_fund_agent
from apps.markets.models import Claim, ClaimStatus, Domain
from apps.markets.services import Order, claim_create, claim_publish, trade_place
from apps.reputation import simulation

DEMO_PASSWORD = "credence-demo"  # noqa: S105 (published on purpose: printed by `make run`)

PEOPLE = [
    # email, display name, staff moderator
    ("alice@example.com", "Alice", False),
    ("bob@example.com", "Bob", False),
    ("moderator@example.com", "Moderator", True),
]

AGENTS = [
    # owner email, handle, provenance
    (
        "alice@example.com",
        "base-rate-bot",
        {
            "display_name": "Base-rate bot",
            "description": "Forecasts each claim from the resolution rate of its domain.",
            "model_name": "base-rate forecaster",
            "provider": "Credence built-in strategy",
            "model_version": "1",
            "autonomy_level": AutonomyLevel.AUTONOMOUS,
        },
    ),
    (
        "alice@example.com",
        "consensus-tracker",
        {
            "display_name": "Consensus tracker",
            "description": "Trades the market toward the reputation-weighted consensus.",
            "model_name": "consensus tracker",
            "provider": "Credence built-in strategy",
            "model_version": "1",
            "autonomy_level": AutonomyLevel.SUPERVISED,
        },
    ),
    (
        "bob@example.com",
        "bobs-extremizer",
        {
            "display_name": "Bob's extremizer",
            "description": "Pushes well-calibrated beliefs away from 50%; every order is placed by Bob.",
            "model_name": "calibrated extremizer",
            "provider": "Credence built-in strategy",
            "model_version": "1",
            "autonomy_level": AutonomyLevel.ADVISORY,
        },
    ),
]

# (owner email, agent handle, credits): moved from the owner's signup grant to the agent.
FUNDING = [("alice@example.com", "base-rate-bot", 250)]
# The agent that gets a demo API key, so docs/examples/agent_client.py works against a fresh install.
KEYED_AGENT = "base-rate-bot"

# (author email, title, domain slug, days open, liquidity credits, criteria): open markets to browse.
CLAIMS = [
    (
        "alice@example.com",
        "Will a room-temperature superconductor be independently replicated by the end of next year?",
        "science",
        60,
        100,
        "Resolves YES if two independent labs publish (preprint or journal) a replication of zero resistance "
        "and the Meissner effect at or above 273 K and ambient pressure before the claim closes; NO otherwise.",
    ),
    (
        "bob@example.com",
        "Will the central bank cut its policy rate at its next meeting?",
        "economics",
        21,
        50,
        "Resolves YES if the bank's official statement after its next scheduled meeting announces a lower "
        "policy rate than before the meeting; NO if it holds or raises.",
    ),
    (
        "alice@example.com",
        "Will this month set a new global temperature record for the month?",
        "climate",
        30,
        50,
        "Resolves YES if the first monthly bulletin of a major climate agency after the month ends ranks it "
        "the warmest such month on record; NO otherwise.",
    ),
]
# (trader email or agent handle, claim index, side, credits): trades that give the markets a history.
TRADES = [
    ("bob@example.com", 0, "no", 20),
    ("base-rate-bot", 0, "no", 15),
    ("alice@example.com", 1, "yes", 10),
    ("base-rate-bot", 1, "no", 5),
    ("bob@example.com", 2, "yes", 12),
]
KEY_NAME = "demo"
# The resolved history: a small run of manage.py reputation_simulate (docs/reputation.md), under this tag.
HISTORY_TAG = "demo-history"
HISTORY_SOURCES = 20
HISTORY_CLAIMS = 40


class Command(BaseCommand):
    help = "Load the demo users, moderator and agents (idempotent: running it again changes nothing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", default=DEMO_PASSWORD, help="password of newly created demo users")
        parser.add_argument(
            "--history",
            type=int,
            default=HISTORY_CLAIMS,
            help=f"simulated claims to resolve for history (default {HISTORY_CLAIMS}; 0: none)",
        )

    def handle(self, *args, password: str, history: int, **options) -> None:
        # Under override_settings SETTINGS_MODULE is None; the environment still names the module.
        module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "")
        if module.endswith(".production"):
            # A superuser with a published password has no place on a real deployment.
            raise CommandError("demo_seed refuses to run with production settings.")
        with transaction.atomic():
            created = self._seed(password)
        resolved = self._history(history)
        created += resolved
        users = User.objects.filter(email__in=[email for email, _, _ in PEOPLE]).order_by("pk")
        self.stdout.write(
            self.style.SUCCESS(f"demo_seed: {created} row(s) created" if created else "demo_seed: already loaded")
        )
        self.stdout.write(f"Demo logins (password for each: {password}):")
        for user in users:
            role = "moderator, staff admin" if user.is_staff else "member"
            self.stdout.write(f"  {user.email:<24} {role}")
        for _, handle, _ in FUNDING:
            agent = Identity.objects.get(handle=handle)
            self.stdout.write(f"Funded agent: @{handle} ({format_credits(wallet_balance(agent))} credits)")
        if resolved:
            self.stdout.write(
                f"History: {history} simulated claims resolved and scored (sources @{HISTORY_TAG}-*, "
                "see docs/reputation.md)"
            )
        token_file = _token_file()
        if token_file.exists():
            self.stdout.write(f"API key of @{KEYED_AGENT} (scopes read, trade): {token_file.read_text().strip()}")

    def _seed(self, password: str) -> int:
        created = 0
        users: dict[str, User] = {}
        for email, display_name, staff in PEOPLE:
            user = User.objects.filter(email=email).first()
            if user is None:
                make = User.objects.create_superuser if staff else User.objects.create_user
                user = make(email, password, display_name=display_name)
                created += 1
            # As if they had clicked the link in allauth's confirmation email.
            _, new_address = EmailAddress.objects.get_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
            created += new_address
            user_email_verified(user=user)  # idempotent: identity and signup grant only the first time
            user.refresh_from_db()
            users[email] = user

        agents: dict[str, Identity] = {}
        for owner_email, handle, provenance in AGENTS:
            agent = Identity.objects.filter(handle=handle).first()
            if agent is not None and agent.owner_id != users[owner_email].pk:
                raise CommandError(f"@{handle} exists and does not belong to {owner_email}: not a demo database?")
            if agent is None:
                agent = agent_create(owner=users[owner_email], handle=handle, **provenance)
                created += 1
            agents[handle] = agent

        for owner_email, handle, amount in FUNDING:
            transfer = wallet_fund_agent(
                owner=users[owner_email],
                agent=agents[handle],
                amount=amount * CREDIT,
                idempotency_key=f"demo-seed:{handle}",
            )
            created += not transfer.replayed

        # The token is shown once by design; the demo keeps it in the local data folder so every run
        # can print it again. A key is created only while the agent has no demo key.
        agent = agents[KEYED_AGENT]
        if not ApiKey.objects.filter(identity=agent, name=KEY_NAME).exists():
            _, token = api_key_create(agent=agent, created_by=agent.owner, name=KEY_NAME, scopes=["read", "trade"])
            token_file = _token_file()
            token_file.parent.mkdir(parents=True, exist_ok=True)
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            created += 1
        return created + self._seed_markets(users, agents)

    def _history(self, claims: int) -> int:
        """A small simulated population whose claims are resolved and scored, in one transaction: all of
        it or none of it, and nothing on a second run (its rows are found by their tag)."""
        if claims <= 0 or simulation.tag_taken(HISTORY_TAG):
            return 0
        try:
            with transaction.atomic():
                report = simulation.simulate(claims=claims, sources=HISTORY_SOURCES, seed=1, tag=HISTORY_TAG)
        except ValueError as error:  # too few claims to simulate
            raise CommandError(f"--history: {error}") from error
        return report.claims

    def _seed_markets(self, users: dict[str, User], agents: dict[str, Identity]) -> int:
        """Open claims and a few trades, through claim_create / claim_publish / trade_place."""
        created = 0
        claims = []
        for email, title, domain_slug, days, liquidity, criteria in CLAIMS:
            author = Identity.objects.get(user=users[email])
            claim = Claim.objects.filter(title=title, author=author).first()
            if claim is None:
                now = timezone.now()
                claim = claim_create(
                    author=author,
                    title=title,
                    criteria=criteria,
                    domain=Domain.objects.get(slug=domain_slug),
                    closes_at=now + timedelta(days=days),
                    resolve_by=now + timedelta(days=days + 14),
                    liquidity=liquidity * CREDIT,
                    tags=["demo"],
                )
                claim_publish(claim=claim, actor=author)
                claim.refresh_from_db()
                created += 1
            claims.append(claim)
        for who, index, side, amount in TRADES:
            trader = agents[who] if who in agents else Identity.objects.get(user=users[who])
            if claims[index].status != ClaimStatus.OPEN:
                continue
            trade = trade_place(
                identity=trader,
                claim=claims[index],
                order=Order(kind="buy", side=side, amount=amount * CREDIT),
                idempotency_key=f"demo-seed:{index}:{who}",
            )
            created += not trade.replayed
        return created


def _token_file() -> Path:
    return Path(settings.DATA_DIR) / "demo-api-key.txt"
