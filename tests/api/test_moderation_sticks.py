"""A moderator's suspension sticks: the owner cannot lift it (API or web), only staff can; who suspended
and why are on record. A suspended owner changes nothing of their agents. Each refusal writes nothing."""

import pytest
from django.test import Client

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.identities.errors import IdentitySuspended, SuspendedByModerator
from apps.identities.models import ApiKey, Identity, IdentityStatus
from apps.identities.services import agent_reactivate, agent_suspend, identity_reactivate, identity_suspend
from apps.ledger.models import Transfer
from apps.markets.models import Domain, Trade
from tests import factories
from tests.factories import fund, new_claim
from tests.support import bearer

pytestmark = pytest.mark.django_db


def _post(client, path, payload=None):
    return client.post(path, payload or {}, content_type="application/json")


def _state(identity: Identity) -> tuple:
    identity.refresh_from_db()
    return identity.status, identity.suspended_as, identity.suspended_by_id, identity.suspended_reason


def _writes() -> tuple:
    return Event.objects.count(), Transfer.objects.count(), ApiKey.objects.count(), Identity.objects.count()


def test_the_owner_cannot_lift_a_moderators_suspension_through_the_api(owner_client, bot):
    token = factories.api_key(bot)
    moderator = factories.moderator()
    identity_suspend(identity=bot, moderator=moderator, reason="Wash trading with a sibling.")
    suspended = _state(bot)
    assert suspended == ("suspended", "moderator", moderator.pk, "Wash trading with a sibling.")
    before = _writes()

    # when the owner tries to reactivate it
    response = _post(owner_client, f"/api/v1/agents/{bot.pk}/reactivate")

    # then it is refused with a code that says why, and the agent stays suspended: its key still fails
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "suspended_by_moderator"
    assert _state(bot) == suspended
    assert _writes() == before
    assert Client().get("/api/v1/me", headers=bearer(token)).status_code == 401

    # and suspending it again as its owner does not turn it into the owner's suspension
    assert _post(owner_client, f"/api/v1/agents/{bot.pk}/suspend", {"reason": "mine now"}).status_code == 200
    assert _state(bot) == suspended

    # while a moderator lifts it
    identity_reactivate(identity=bot, moderator=moderator, reason="Appeal upheld")
    assert _state(bot) == ("active", "", None, "")
    assert Client().get("/api/v1/me", headers=bearer(token)).status_code == 200


def test_the_owner_cannot_lift_a_moderators_suspension_on_the_web(owner_client, bot):
    identity_suspend(identity=bot, moderator=factories.moderator(), reason="Spam.")
    page = owner_client.get(f"/me/agents/{bot.pk}/").content.decode()
    assert "Suspended by a moderator" in page
    assert "only a moderator can lift it" in page
    assert "Reactivate agent" not in page

    response = owner_client.post(f"/me/agents/{bot.pk}/reactivate")

    assert response.status_code == 403
    assert "A moderator suspended this agent: only a moderator can lift it." in response.content.decode()
    assert _state(bot)[:2] == ("suspended", "moderator")


def test_a_moderator_suspension_replaces_the_owners_and_records_who_and_why(owner, bot):
    agent_suspend(owner=owner, agent=bot, reason="Pausing it.")
    assert _state(bot) == ("suspended", "owner", owner.pk, "Pausing it.")
    moderator = factories.moderator()

    identity_suspend(identity=bot, moderator=moderator, reason="Manipulation.")

    assert _state(bot) == ("suspended", "moderator", moderator.pk, "Manipulation.")
    with pytest.raises(SuspendedByModerator):
        agent_reactivate(owner=owner, agent=bot)
    events = list(Event.objects.filter(kind="identity.suspended").order_by("id").values_list("payload", flat=True))
    assert events == [{"reason": "Pausing it.", "by": "owner"}, {"reason": "Manipulation.", "by": "moderator"}]


def test_only_staff_suspend_or_reactivate_as_moderators(owner, bot):
    with pytest.raises(Exception) as refused:
        identity_suspend(identity=bot, moderator=owner, reason="I am not staff.")
    assert refused.value.code == "permission_denied"
    assert _state(bot)[0] == "active"


def test_the_database_refuses_a_suspension_that_does_not_say_whose(bot):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Identity.objects.filter(pk=bot.pk).update(status=IdentityStatus.SUSPENDED)
    with pytest.raises(IntegrityError), transaction.atomic():  # a person cannot be suspended "as their owner"
        Identity.objects.filter(pk=factories.human().pk).update(status="suspended", suspended_as="owner")


def test_a_suspended_owner_changes_nothing_of_their_agents(owner, owner_client, bot):
    fund(bot, 10)
    key = ApiKey.objects.get(pk=factories.api_key_row(bot).pk)
    agent_suspend(owner=owner, agent=(paused := factories.agent(owner, handle="paused-bot")), reason="")
    identity_suspend(identity=factories.human(owner), moderator=factories.moderator(), reason="Fraud.")
    before = _writes()
    bot_state, paused_state = _state(bot), _state(paused)

    agent = f"/api/v1/agents/{bot.pk}"
    attempts = {
        "reactivate": _post(owner_client, f"/api/v1/agents/{paused.pk}/reactivate"),
        "suspend": _post(owner_client, f"{agent}/suspend", {"reason": "x"}),
        "update": owner_client.patch(agent, {"display_name": "New"}, content_type="application/json"),
        "key": _post(owner_client, f"{agent}/keys", {"name": "k", "scopes": ["read"]}),
        "revoke": _post(owner_client, f"{agent}/keys/{key.pk}/revoke"),
        "create": _post(owner_client, "/api/v1/agents", {"handle": "new-bot", "autonomy_level": "advisory"}),
    }

    assert {name: r.status_code for name, r in attempts.items()} == dict.fromkeys(attempts, 403)
    assert {r.json()["error"]["code"] for r in attempts.values()} == {"identity_suspended"}
    assert _writes() == before
    assert (_state(bot), _state(paused)) == (bot_state, paused_state)
    key.refresh_from_db()
    assert key.revoked_at is None
    # funding and withdrawing too
    for path in (f"{agent}/fund", f"{agent}/withdraw"):
        response = owner_client.post(
            path, {"amount": CREDIT}, content_type="application/json", headers={"Idempotency-Key": "k"}
        )
        assert (response.status_code, response.json()["error"]["code"]) == (403, "identity_suspended")
    assert _writes() == before


def test_a_trade_reads_whether_its_trader_and_owner_are_active_now(owner, bot):
    claim = new_claim(factories.human(), Domain.objects.get_or_create(slug="science", name="Science")[0])
    fund(bot, 10)
    stale = Identity.objects.get(pk=bot.pk)  # the caller's copy, read before the suspensions below

    # when the agent's owner is suspended, the agent cannot trade even through a copy read before
    identity_suspend(identity=factories.human(owner), moderator=factories.moderator(), reason="Fraud.")
    with pytest.raises(IdentitySuspended):
        factories.buy(stale, claim, "yes", key="a")

    # and the same for the agent's own suspension
    identity_reactivate(identity=factories.human(owner), moderator=factories.moderator(), reason="Restored")
    agent_suspend(owner=owner, agent=bot)
    with pytest.raises(IdentitySuspended):
        factories.buy(stale, claim, "yes", key="b")
    assert not Trade.objects.exists()
