"""An SSRF-safe POST to the URLs users give us (webhook receivers, a hosted agent's model endpoint): the URL's
host is resolved here, through a resolver that can be swapped (tests stub it), every address it resolves to is
checked, and the connection goes to the address that was checked, never through a second lookup, with the
hostname still sent as `Host` and used for TLS (SNI and the certificate's name). No redirect is followed,
the whole exchange is bounded by one deadline, and at most `cap` bytes of the answer are read.

Why our own: the libraries found (advocate: unmaintained since 2020, over requests; safehttpx: async httpx,
no pinned TLS name check we could inject a resolver into; safe-outbound: new, no way to allow loopback for
local settings) each missed one of: an injectable resolver, loopback allowed only by settings, a response
cap and a total deadline. urllib3 (pinned in requirements/base.txt) does the HTTP; this module decides
where it may go. The refusals are tested without sending anything to a refused address
(tests/webhooks/test_transport.py).

What is refused, for each address the host resolves to (any one refused refuses the URL):
loopback (unless CREDENCE_HTTP_ALLOW_LOOPBACK: local and test settings), private (RFC 1918, fc00::/7),
link-local (169.254/16, fe80::/10) and the cloud metadata addresses, unspecified, multicast, reserved,
shared (CGNAT, 100.64/10), anything else not globally routable (documentation and benchmark ranges), and
the same inside IPv4-mapped, NAT64, 6to4 and Teredo IPv6 addresses. Schemes: https; http only when every
address is loopback and loopback is allowed. A URL with user information (`user:pass@`) is refused. Any
port is allowed (a public host's port is the receiver's business).
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util.ssl_match_hostname import CertificateError

Address = IPv4Address | IPv6Address
# host, port -> the addresses it resolves to (strings, as getaddrinfo gives them); OSError when it does not.
Resolver = Callable[[str, int], list[str]]

METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT: the provider's inside
NAT64 = ipaddress.ip_network("64:ff9b::/96")
EXCERPT_CHARS = 1000


class UrlRefused(Exception):
    """The URL may not be reached; `reason` says why, in words a person can act on (no address is named,
    so a refusal does not map someone's internal network for them)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (getaddrinfo): every address, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def offline_resolver(host: str, port: int) -> list[str]:
    """The test settings' resolver: `localhost` only, so no test sends a DNS query anywhere (IP literals
    never reach a resolver)."""
    if host == "localhost":
        return ["127.0.0.1"]
    raise OSError(f"{host}: the test settings resolve no name but localhost")


def address_class(ip: Address) -> str | None:
    """Why an address may not be reached ('loopback', 'private', ...), or None for a public unicast one."""
    if isinstance(ip, IPv6Address):
        inner = ip.ipv4_mapped
        if inner is None and ip in NAT64:
            inner = IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:  # the IPv4 address the packets really go to decides
            return address_class(inner)
        for embedded in (ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if embedded is not None and (why := address_class(embedded)):
                return why
    if ip in METADATA:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, IPv4Address) and ip in SHARED:
        return "shared (carrier-grade NAT)"
    if ip.is_reserved:  # before private: Python counts 240.0.0.0/4 as both
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class Target:
    """Where a checked URL goes: the address to connect to (pinned) and what to tell the server."""

    scheme: str
    host: str  # the hostname (ASCII), or the IP literal as written in the URL
    port: int
    path: str  # path and query, as sent in the request line
    address: str  # the checked address the connection goes to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def host_is_address(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def target_for(url: str, *, resolver: Resolver, allow_loopback: bool) -> Target:
    """Check `url` and resolve its host: the Target to connect to, or UrlRefused. Nothing is sent."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise UrlRefused("This is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UrlRefused("The URL must start with https://.")
    if scheme == "http" and not allow_loopback:
        raise UrlRefused("The URL must use https.")
    if "@" in parts.netloc:
        raise UrlRefused("The URL may not carry a user name or password.")
    if not host:
        raise UrlRefused("The URL names no host.")
    if port == 0:
        raise UrlRefused("Port 0 cannot receive anything.")
    port = port or (443 if scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UrlRefused("The host name is not valid.") from None
        try:
            answers = resolver(host, port)
            addresses = [ipaddress.ip_address(str(answer).split("%", 1)[0]) for answer in answers]
        except (OSError, UnicodeError, ValueError):
            raise UrlRefused(f"{host} does not resolve.") from None
        if not addresses:
            raise UrlRefused(f"{host} does not resolve.")
    for address in addresses:
        why = address_class(address)
        if why == "loopback" and allow_loopback:
            continue
        if why is not None:
            raise UrlRefused(f"{host} resolves to a {why} address: Credence calls only public addresses.")
    if scheme == "http" and any(address_class(address) != "loopback" for address in addresses):
        raise UrlRefused("The URL must use https (http is allowed only to this machine, in local settings).")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no answer (refused before connecting, timed out, connection failed)
    duration_ms: int
    excerpt: str = ""
    error: str = ""
    body: bytes = b""  # what was read of the answer (at most `cap` bytes)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _excerpt(data: bytes) -> str:
    # PostgreSQL text cannot hold NUL; an answer is whatever the receiver sent.
    return data[:EXCERPT_CHARS].decode("utf-8", "replace").replace("\x00", "\ufffd")[:EXCERPT_CHARS]


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (urllib3 wraps the socket's errors in its own)."""
    chain = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _error_words(exc: BaseException, timed_out: bool) -> str:
    chain = _causes(exc)
    if timed_out:
        return "timed out"
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS certificate refused: {e.verify_message}"[:300]
        if isinstance(e, CertificateError):
            return "TLS certificate refused: it is not for this host"
        if isinstance(e, ssl.SSLError):
            return f"TLS failed: {e.reason or e.__class__.__name__}"[:300]
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, (TimeoutError, socket.timeout)):
            return "timed out"
    if any(isinstance(e, (http.client.HTTPException, ConnectionError)) for e in chain):
        return f"bad or no answer ({exc.__class__.__name__})"
    return f"connection failed ({exc.__class__.__name__})"


def default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def post(
    target: Target,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    cap: int,
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """POST `body` to the pinned target. Never raises for anything the network or the receiver does: the
    answer's status (a 3xx is returned as it is, never followed), at most `cap` bytes read of its body, or
    the error. One deadline bounds connecting, sending and reading together: a watchdog shuts the socket
    when it passes, so a receiver that answers a byte at a time cannot stretch it."""
    started = time.monotonic()
    if target.scheme == "https":
        connection: HTTPConnection = HTTPSConnection(
            host=target.address,
            port=target.port,
            timeout=timeout,
            server_hostname=None if target.host_is_address else target.host,
            assert_hostname=target.host,
            ssl_context=ssl_context or default_ssl_context(),
            cert_reqs="CERT_REQUIRED",
        )
    else:
        connection = HTTPConnection(host=target.address, port=target.port, timeout=timeout)
    expired = threading.Event()

    def abort() -> None:
        expired.set()
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        sent = {**headers, "Host": target.host_header, "Content-Length": str(len(body))}
        connection.request("POST", target.path, body=body, headers=sent, preload_content=False, decode_content=False)
        answer = connection.getresponse()
        data = answer.read(cap, decode_content=False) or b""
        if expired.is_set():
            raise TimeoutError
        return Response(
            status=answer.status,
            duration_ms=_ms(started),
            excerpt=_excerpt(data),
            error=_status_words(answer.status),
            body=data,
        )
    except Exception as exc:  # every failure of the exchange is an answer to record
        return Response(status=None, duration_ms=_ms(started), error=_error_words(exc, expired.is_set()))
    finally:
        watchdog.cancel()
        connection.close()


def _status_words(status: int) -> str:
    if 200 <= status < 300:
        return ""
    if 300 <= status < 400:
        return f"redirect ({status}) not followed"
    return f"answered {status}"


def _ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def configured_resolver() -> Resolver:
    """The resolver the settings name (CREDENCE_HTTP_RESOLVER: getaddrinfo; the tests' offline one)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    return import_string(settings.CREDENCE_HTTP_RESOLVER)


def loopback_allowed() -> bool:
    from django.conf import settings

    return settings.CREDENCE_HTTP_ALLOW_LOOPBACK
