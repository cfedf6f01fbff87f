"""The long exploration of the whole API with schemathesis, against a live server on loopback.

Not part of `make test` (the name is not test_*.py; tests/contract/test_fuzz.py is the bounded run that
is). Run it by path, with rate limits high enough that the fuzzer is not answered 429 throughout:

    CREDENCE_API_RATE_AUTH=1000000/min CREDENCE_API_RATE_ANON=1000000/min EXPLORE_EXAMPLES=100 \\
      DATABASE_URL=postgres://... REDIS_URL=redis://... \\
      .venv/bin/python -m pytest tests/contract/explore_schemathesis.py -s -q -p no:randomly

It seeds a verified owner with 10,000 credits, an agent of theirs funded with 5,000 and holding a key
with every scope, and claims in each state an operation can meet (open with a trade and a belief,
closed, proposed, a draft); then runs `schemathesis run` over /api/v1/openapi.json once per caller (the
agent's key, the owner's session with its CSRF token, anonymous), every phase, the checks below. Each
caller runs twice: with the ids drawn by the fuzzer (mostly 404s), and with `claim_id` and `agent_id`
pinned to the seeded ones, so every body reaches the services. Reports go to EXPLORE_REPORT_DIR
(default /tmp/credence-explore); the summary of each run is printed and the test fails on any failure.
"""

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client

from apps.core.amounts import CREDIT
from apps.identities.models import ApiKeyScope
from apps.reputation.services import belief_state
from tests import factories
from tests.factories import new_claim

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "positive_data_acceptance",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
CSRF = "c" * 32


def _seed() -> dict:
    owner = factories.verified_user(email="explorer@example.com")
    bot = factories.funded_agent(owner, handle="explorer-bot", amount=5_000 * CREDIT)
    token = factories.api_key(bot, scopes=list(ApiKeyScope.values))
    science = factories.domain()
    other = factories.human()
    open_claim = new_claim(bot, science, title="Will the explorer's market stay open?")
    factories.buy(bot, open_claim.pk, "yes", credits=10, key="explore-buy")
    belief_state(
        identity=bot, claim=open_claim.pk, probability=Decimal("0.6"), rationale="", idempotency_key="explore-b"
    )
    closing = new_claim(other, science, title="Will it have closed?", closes_in=timedelta(seconds=2))
    proposed = new_claim(other, science, title="Will it be proposed?", closes_in=timedelta(seconds=2))
    draft = new_claim(bot, science, title="A draft of the explorer", publish=False)
    client = Client()
    client.force_login(owner)
    return {
        "owner": owner,
        "bot": bot,
        "token": token,
        "session": client.cookies["sessionid"].value,
        "claims": {"open": open_claim.pk, "closed": closing.pk, "proposed": proposed.pk, "draft": draft.pk},
        "_to_propose": proposed,
        "_other": other,
    }


def _schemathesis(url: str, *, name: str, headers: list[str], pinned: dict, examples: int, reports: Path) -> str:
    config = reports / f"{name}.toml"
    lines = ["[parameters]", *(f'"path.{key}" = {value}' for key, value in pinned.items())]
    if not any(header.startswith("Authorization:") for header in headers):
        # Else schemathesis makes up a bearer token for every operation that takes one, and a session
        # (or an anonymous reader) would only ever meet the 401 of an unknown key.
        lines += ["[generation]", "with-security-parameters = false"]
    config.write_text("\n".join(lines) + "\n")
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{url}/api/v1/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(examples),
        "--seed",
        "12",
        "--workers",
        "2",
        "--continue-on-failure",
        "--suppress-health-check",
        "all",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(reports / name),
        "--output-truncate",
        "false",
        *[part for header in headers for part in ("-H", header)],
    ]
    # In the reports' directory: schemathesis keeps its cache (.schemathesis/) in the working directory.
    run = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=reports)  # noqa: S603
    (reports / f"{name}.log").write_text(run.stdout + run.stderr)
    return run.stdout


@pytest.mark.timeout(0)  # minutes per caller; schemathesis's own timeouts bound each request
@pytest.mark.django_db(transaction=True)
def test_explore_the_whole_api(live_server, settings):
    settings.CREDENCE_SIGNUP_GRANT_CREDITS = 10_000
    seeded = _seed()
    time.sleep(3)  # the two short claims close
    factories.propose(seeded["_to_propose"], "yes", seeded["_other"], evidence="The record says so.")
    reports = Path(os.environ.get("EXPLORE_REPORT_DIR", "/tmp/credence-explore"))  # noqa: S108
    reports.mkdir(parents=True, exist_ok=True)
    examples = int(os.environ.get("EXPLORE_EXAMPLES", "100"))
    callers = {
        "agent": [f"Authorization: Bearer {seeded['token']}"],
        "session": [f"Cookie: sessionid={seeded['session']}; csrftoken={CSRF}", f"X-CSRFToken: {CSRF}"],
        "anonymous": [],
    }
    pins = {
        "drawn": {},
        "pinned": {"claim_id": seeded["claims"]["open"], "agent_id": seeded["bot"].pk},
    }
    failed = []
    for caller, headers in callers.items():
        for how, pinned in pins.items():
            name = f"{caller}-{how}"
            out = _schemathesis(
                live_server.url, name=name, headers=headers, pinned=pinned, examples=examples, reports=reports
            )
            summary = out[out.rfind("=====") - 2000 :] if "=====" in out else out[-3000:]
            print(f"\n##### {name}\n{summary[-2500:]}")
            if re.search(r"\d+ (failures?|errors?)", out) or "FAILURES" in out:
                failed.append(name)
    assert failed == []
