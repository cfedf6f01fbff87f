"""What the markets app refuses: trading, claims and resolution."""

from apps.core.errors import Conflict, PermissionDenied


class MarketClosed(Conflict):
    code = "market_closed"
    default_message = "This market is not open for trading."


class IllegalTransition(Conflict):
    code = "illegal_transition"
    default_message = "The claim is not in a state that allows this."


class PriceLimitCrossed(Conflict):
    code = "price_limit_crossed"
    default_message = "The order would move the price past its limit."


class NothingToTrade(Conflict):
    code = "nothing_to_trade"
    default_message = "The order would trade no shares."


class InsufficientShares(Conflict):
    code = "insufficient_shares"
    default_message = "You do not hold that many shares."


class TooManyOpenClaims(Conflict):
    code = "too_many_open_claims"
    default_message = "You have reached the maximum number of open claims."


class ConflictOfInterest(PermissionDenied):
    code = "conflict_of_interest"
    default_message = "You hold a stake in this outcome."
