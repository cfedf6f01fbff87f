"""API rate limits: a fixed window per caller, counted with one atomic cache increment.

django-ninja's own throttles keep a sliding log: every request reads the caller's list of timestamps
and writes it back, so the cost grows with the limit (~11 KB a request at 1,200/min) and concurrent
requests can all read the same list and overrun the limit. Here a request is one `ADD` or `INCR` on
a key that names the current window, which Redis performs atomically: N concurrent requests against
a limit of L let exactly min(N, L) through. The price is the usual fixed-window one: a burst that
straddles a window boundary may reach twice the rate for a moment.
"""

import time
from abc import ABC, abstractmethod

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
