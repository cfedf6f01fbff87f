"""Rate limits: the client address every limiter counts by, and the API's fixed window per caller.

Every per-address limit (the API's anonymous one here; allauth's login, signup and reset limits through
apps.accounts.adapters) keys on `client_address`, which trusts exactly CREDENCE_TRUSTED_PROXIES proxies.

A request is one atomic `ADD` or `INCR` on a key naming the current window, so N concurrent requests
against a limit of L let exactly min(N, L) through. django-ninja's own throttles keep a sliding log that
every request reads and writes back: it grows with the limit (~11 KB a request at 1,200/min), and
concurrent requests read the same list and overrun the limit. The price: a burst that straddles a window
boundary may reach twice the rate for a moment.
"""

import ipaddress
import time
from abc import ABC, abstractmethod

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


# allauth's RATE_LIMIT_IPV6_PREFIX: a subscriber is given a whole /64, so its addresses are one client.
IPV6_CLIENT_PREFIX = 64


def _address(hop: str) -> str | None:
    """One X-Forwarded-For hop or REMOTE_ADDR, normalised ('2001:DB8:0::7' -> '2001:db8::7'), without
    the port some proxies add ('198.51.100.7:51234', '[2001:db8::7]:443'); None if it is not an address."""
    hop = hop.strip()
    if hop.startswith("["):
        hop = hop[1 : hop.find("]")] if "]" in hop else hop
    elif hop.count(":") == 1:
        hop = hop.partition(":")[0]
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str:
    """The client's address: the one function every limiter keys on.

    Each proxy appends its peer to X-Forwarded-For, and the last one is REMOTE_ADDR. Only the
    CREDENCE_TRUSTED_PROXIES right-most hops are our proxies'; anything left of them the client wrote and
    may forge (a new value per request would be a new client to every limit). So the client is the
    right-most hop no trusted proxy wrote.

    - Fewer hops than proxies (a health check straight to the container): the farthest hop there is.
    - A hop that is not an address (the chain is not as configured): the peer, so a misconfiguration
      shares one count instead of opening one per forged value.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = settings.CREDENCE_TRUSTED_PROXIES
    hop = remote
    if trusted > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        chain = [*(part for part in forwarded.split(",") if part.strip()), remote]
        hop = chain[max(len(chain) - 1 - trusted, 0)]
    return _address(hop) or _address(remote) or "unknown"


def limited_address(request: HttpRequest) -> str:
    """The client address as a limit counts it: an IPv6 address by its /64 network."""
    address = client_address(request)
    if ":" in address:
        return str(ipaddress.IPv6Network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False).network_address)
    return address


def parse_rate(rate: str) -> tuple[int, int]:
    """'120/min' -> (120, 60)."""
    count, _, period = rate.partition("/")
    if not count.strip().isdigit() or period.strip() not in _PERIODS:
        raise ValueError(f"A rate is '<requests>/<s|min|hour|day>', not {rate!r}")
    return int(count), _PERIODS[period.strip()]


class FixedWindowThrottle(BaseThrottle, ABC):
    scope = "api"

    def __init__(self, rate: str) -> None:
        self.rate = rate
        self.num_requests, self.duration = parse_rate(rate)

    def get_ident(self, request: HttpRequest) -> str:
        """django-ninja's own reading trusts X-Forwarded-For unless NINJA_NUM_PROXIES is set: never use it."""
        return limited_address(request)

    @abstractmethod
    def ident(self, request: HttpRequest) -> str | None:
        """Who is counted; None: this throttle does not apply to the request."""

    def allow_request(self, request: HttpRequest) -> bool:
        ident = self.ident(request)
        if ident is None:
            return True
        window = int(time.time() // self.duration)
        key = f"throttle_{self.scope}_{ident}_{window}"
        # A little longer than the window, so the key cannot expire between ADD and INCR.
        if cache.add(key, 1, timeout=self.duration + 5):
            return True
        return cache.incr(key) <= self.num_requests

    def wait(self) -> float:
        """Seconds until the current window ends (stateless: the throttle object is shared by threads)."""
        return self.duration - time.time() % self.duration


class AnonymousThrottle(FixedWindowThrottle):
    """Unauthenticated requests, per client address."""

    scope = "anon"

    def ident(self, request: HttpRequest) -> str | None:
        if getattr(request, "auth", None) is not None:
            return None
        return self.get_ident(request)


class CallerThrottle(FixedWindowThrottle):
    """Authenticated requests, per API key or per signed-in person."""

    scope = "caller"

    def ident(self, request: HttpRequest) -> str | None:
        caller = getattr(request, "auth", None)
        if caller is None:
            return None
        if caller.api_key is not None:
            return f"key{caller.api_key.pk}"
        return f"user{caller.user.pk}"
