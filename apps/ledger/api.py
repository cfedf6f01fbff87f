from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Query, Schema

from apps.core.api import AUTH_ERRORS, BODY_ERRORS, Page, errors, keyset_page, require_idempotency_key
from apps.core.api_types import IDEMPOTENT, ApiRouter, Handle, IdempotencyKeyHeader, Input, Int, PageQuery, ParamInt
from apps.core.errors import NotFound
from apps.identities.auth import caller_identity, key_or_session, session_only
from apps.identities.models import Identity
from apps.identities.selectors import agent_of_owner
from apps.ledger import selectors, services
from apps.ledger.services import MAX_AMOUNT

router = ApiRouter(tags=["wallet"])


class WalletOut(Schema):
    identity_id: int
    handle: Handle
    balance: int = Field(description="Micro-credits (1 credit = 1,000,000).")


class EntryOut(Schema):
    id: int
    amount: int = Field(description="Signed micro-credits: positive is credit in.")
    balance_after: int = Field(description="The wallet's balance after this entry, micro-credits.")
    kind: str = Field(alias="transfer.kind")
    memo: str = Field(alias="transfer.memo")
    transfer_id: int
    created_at: datetime


class EntryPage(Page):
    items: list[EntryOut]


class AmountIn(Input):
    amount: Int = Field(gt=0, le=MAX_AMOUNT, description="Micro-credits to move.", examples=[25_000_000])


class TransferOut(Schema):
    transfer_id: int
    kind: str
    amount: int = Field(description="Micro-credits moved.")
    replayed: bool = Field(description="True when this answers a retry of an earlier request with the same key.")
    owner_balance: int = Field(description="Your wallet's balance now, micro-credits.")
    agent_balance: int = Field(description="The agent's balance now, micro-credits.")


def _wallet(identity: Identity) -> WalletOut:
    return WalletOut(identity_id=identity.pk, handle=identity.handle, balance=selectors.wallet_balance(identity))


def _entries(identity: Identity, page: PageQuery) -> dict:
    rows, next_cursor = keyset_page(selectors.wallet_entries(identity), cursor=page.cursor, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}


def _my_agent(request: HttpRequest, agent_id: int) -> Identity:
    agent = agent_of_owner(request.auth.user, agent_id)
    if agent is None:
        raise NotFound("No such agent.")
    return agent


@router.get(
    "/wallet", response={200: WalletOut, **errors(*AUTH_ERRORS)}, auth=key_or_session("read"), summary="My balance"
)
def wallet(request: HttpRequest):
    return _wallet(caller_identity(request.auth))


@router.get(
    "/wallet/entries",
    response={200: EntryPage, **errors(*AUTH_ERRORS, 422)},
    auth=key_or_session("read"),
    summary="My wallet history",
)
def wallet_entries(request: HttpRequest, page: Query[PageQuery]):
    return _entries(caller_identity(request.auth), page)


@router.get(
    "/agents/{agent_id}/wallet",
    response={200: WalletOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=session_only,
    summary="An agent's balance",
)
def agent_wallet(request: HttpRequest, agent_id: ParamInt):
    return _wallet(_my_agent(request, agent_id))


@router.get(
    "/agents/{agent_id}/wallet/entries",
    response={200: EntryPage, **errors(*AUTH_ERRORS, 404, 422)},
    auth=session_only,
    summary="An agent's wallet history",
)
def agent_wallet_entries(request: HttpRequest, agent_id: ParamInt, page: Query[PageQuery]):
    return _entries(_my_agent(request, agent_id), page)


def _transfer_out(transfer, owner_identity: Identity, agent: Identity, amount: int) -> TransferOut:
    return TransferOut(
        transfer_id=transfer.pk,
        kind=transfer.kind,
        amount=amount,
        replayed=transfer.replayed,
        owner_balance=selectors.wallet_balance(owner_identity),
        agent_balance=selectors.wallet_balance(agent),
    )


@router.post(
    "/agents/{agent_id}/fund",
    response={200: TransferOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=session_only,
    summary="Move credit from my wallet to my agent",
    openapi_extra=IDEMPOTENT,
)
def agent_fund(
    request: HttpRequest,
    agent_id: ParamInt,
    payload: AmountIn,
    idempotency_key: IdempotencyKeyHeader = None,
):
    agent = _my_agent(request, agent_id)
    transfer = services.wallet_fund_agent(
        owner=request.auth.user,
        agent=agent,
        amount=payload.amount,
        idempotency_key=require_idempotency_key(idempotency_key),
    )
    return _transfer_out(transfer, caller_identity(request.auth), agent, payload.amount)


@router.post(
    "/agents/{agent_id}/withdraw",
    response={200: TransferOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=session_only,
    summary="Move credit from my agent back to my wallet",
    openapi_extra=IDEMPOTENT,
)
def agent_withdraw(
    request: HttpRequest,
    agent_id: ParamInt,
    payload: AmountIn,
    idempotency_key: IdempotencyKeyHeader = None,
):
    agent = _my_agent(request, agent_id)
    transfer = services.wallet_withdraw_agent(
        owner=request.auth.user,
        agent=agent,
        amount=payload.amount,
        idempotency_key=require_idempotency_key(idempotency_key),
    )
    return _transfer_out(transfer, caller_identity(request.auth), agent, payload.amount)
