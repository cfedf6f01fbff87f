"""Outgoing HTTP to addresses users give us (a model endpoint, a webhook receiver), safe from SSRF.

- The host is resolved here, through `resolver` (tests stub it), and every address it resolves to is checked:
  loopback (unless settings allow it: local and test settings only), private, link-local (cloud metadata),
  carrier-grade NAT, multicast, reserved and unspecified addresses are refused, IPv4-mapped IPv6 included.
- The connection goes to the address that was checked (pinned: no second lookup a DNS answer could change
  between check and connect), with the hostname as Host and for TLS (SNI and certificate checks).
- https only (http only to loopback where loopback is allowed); no user:password in URLs; redirects are never
  followed; a timeout bounds the whole exchange and at most `limit` bytes of the answer are read.
"""

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

CGNAT = ipaddress.ip_network("100.64.0.0/10")


class Refused(Exception):
    """The URL may not be called (its scheme, its credentials, an address it resolves to). Nothing was sent."""


class Failed(Exception):
    """The call was made and did not complete (refused connection, timeout, TLS, an answer too large)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    elapsed_ms: int

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def system_resolver(host: str, port: int) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


resolver: Callable[[str, int], list[str]] = system_resolver


def address_refusal(address: str, *, allow_loopback: bool) -> str | None:
    """Why this address may not be called, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return "a carrier-grade NAT address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "an address that is not public"
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked address the connection is pinned to


def target_for(url: str, *, allow_loopback: bool | None = None) -> Target:
    """Check a URL and resolve it to the one address to connect to; Refused with the reason otherwise."""
    allow_loopback = settings.CREDENCE_HTTP_ALLOW_LOOPBACK if allow_loopback is None else allow_loopback
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Refused("only https:// URLs can be called")
    if parts.username is not None or parts.password is not None:
        raise Refused("a URL may not carry a user name or password")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [host] if _is_ip(host) else resolver(host, port)
    except OSError as exc:
        raise Refused(f"{host} does not resolve ({exc})") from None
    if not addresses:
        raise Refused(f"{host} does not resolve")
    for address in addresses:
        why = address_refusal(address, allow_loopback=allow_loopback)
        if why is not None:
            raise Refused(f"{host} resolves to {why}")
    if parts.scheme == "http" and not all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses):
        raise Refused("only https:// URLs can be called (http only to this machine, in local settings)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _pool(target: Target, timeout: float) -> urllib3.HTTPConnectionPool:
    options = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "maxsize": 1}
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            **options,
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, **options)


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float, limit: int) -> Response:
    """POST `body` to `url` as the module's rules allow; the status and at most `limit` bytes of the answer."""
    target = target_for(url)
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    pool = _pool(target, timeout)
    started = time.monotonic()
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            data = response.read(limit + 1)
            if len(data) > limit:
                raise Failed(f"the answer is larger than {limit} bytes")
            return Response(status=response.status, body=data, elapsed_ms=int((time.monotonic() - started) * 1000))
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise Failed(f"{type(exc).__name__}: {exc}") from None
    finally:
        pool.close()
