"""Embedded mode (SQLite, as `make run` starts without services) keeps prices exact: a replayed trade
answers the same price strings as the first answer (docs/api.md promises it), and every stored price reads
back as the string first answered. SQLite stored a `decimal` column as a 64-bit float, about 16 digits of
the 20 the market computes.

The suite's database is PostgreSQL, so this runs in a fresh process on a fresh SQLite file, through the
API as an agent would call it."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import connection
from django.test import Client
from apps.core.amounts import CREDIT
from apps.markets.models import Domain, Market, PricePoint, Trade
from tests import factories
from tests.factories import new_claim

assert connection.vendor == "sqlite"
claim = new_claim(factories.human(), factories.domain())
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(factories.verified_user())
answers = []
buy = {"kind": "buy", "side": "yes", "amount": 7 * CREDIT}
for order in (buy, {"kind": "belief", "belief": "0.61", "amount": 3 * CREDIT}):
    for _ in range(2):
        response = client.post(
            f"/api/v1/claims/{claim.pk}/trades", order, content_type="application/json",
            headers={"Idempotency-Key": order["kind"]},
        )
        answers.append((response.status_code, response.json()))
stored = [
    [str(t.price_before), str(t.price_after), str(t.price_point.price_yes)] for t in Trade.objects.order_by("pk")
]
print(json.dumps({"answers": answers, "stored": stored, "market": str(Market.objects.get(claim=claim).price_yes)}))
"""


def test_embedded_mode_answers_a_replay_with_the_prices_first_answered(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "DJANGO_"))}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.local", "CREDENCE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(  # noqa: S603 (fixed argv)
        [PYTHON, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    (s1, first), (s2, replay), (s3, belief), (s4, belief_replay) = result["answers"]
    assert (s1, s2, s3, s4) == (201, 200, 201, 200)
    # the replays answer the very strings first answered, to the 20th decimal
    assert replay == first | {"replayed": True}
    assert belief_replay == belief | {"replayed": True}
    assert len(first["price_after"].split(".")[1]) > 16  # more digits than a 64-bit float holds
    # and what is stored reads back as the value answered, every digit of it
    assert [[Decimal(p) for p in row] for row in result["stored"]] == [
        [Decimal(first["price_before"]), Decimal(first["price_after"]), Decimal(first["price_after"])],
        [Decimal(belief["price_before"]), Decimal(belief["price_after"]), Decimal(belief["price_after"])],
    ]
    assert Decimal(result["market"]) == Decimal(belief["price_after"])
