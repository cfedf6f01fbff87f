"""The SSRF-safe transport (apps/core/http.py): every refusal happens before any connection (a spy
on the socket layer proves none was attempted), the connection goes to the address that was checked, TLS
checks the hostname, no redirect is followed, and one deadline bounds a receiver that hangs. Every
connection these tests make goes to 127.0.0.1."""

import datetime
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.core import http as transport
from apps.core.http import UrlRefused, target_for
from tests.webhooks.receivers import receiving


class Resolver:
    """A stub DNS: answers from a table, counts the questions."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError("no such host")
        return self.table[host]


@pytest.fixture
def connections(monkeypatch):
    """Every connection attempted, as (host, port); any to an address but 127.0.0.1 is refused by the spy."""
    attempted: list[tuple] = []
    real_connect = socket.socket.connect

    def spy(sock, address):
        attempted.append(tuple(address[:2]))
        if address[0] != "127.0.0.1":
            raise AssertionError(f"a connection to {address} was attempted")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return attempted


REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.1", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.9", "private"),
    ("192.168.1.20", "private"),
    ("fc00::5", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.10.10", "link-local"),
    ("fe80::1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 (an answer to refuse, not a bind)
    ("::", "unspecified"),
    ("224.0.0.251", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("100.127.255.254", "shared (carrier-grade NAT)"),
    ("192.0.2.10", "private"),  # documentation: Python counts it private
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),
    ("64:ff9b::a00:1", "private"),
    ("2002:a00:1::", "private"),
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_a_host_resolving_to_a_refused_address_is_refused_before_any_connection(address, why, connections):
    resolver = Resolver({"hooks.example": [address]})
    with pytest.raises(UrlRefused) as refused:
        target_for("https://hooks.example/in", resolver=resolver, allow_loopback=False)
    assert refused.value.reason == f"hooks.example resolves to a {why} address: Credence calls only public addresses."
    assert address not in refused.value.reason  # a refusal never maps the network for the caller
    assert resolver.asked == ["hooks.example"]
    assert connections == []


@pytest.mark.parametrize(("address", "why"), [(a, w) for a, w in REFUSED if w != "loopback"][:8])
def test_an_address_written_in_the_url_is_checked_without_asking_the_resolver(address, why, connections):
    resolver = Resolver({})
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UrlRefused) as refused:
        target_for(f"https://{host}/in", resolver=resolver, allow_loopback=True)
    assert why in refused.value.reason
    assert resolver.asked == []
    assert connections == []


def test_one_refused_address_among_public_ones_refuses_the_url(connections):
    resolver = Resolver({"hooks.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "10.0.0.7"]})
    with pytest.raises(UrlRefused, match="resolves to a private address"):
        target_for("https://hooks.example/", resolver=resolver, allow_loopback=False)
    assert connections == []


def test_a_public_host_is_pinned_to_the_first_address_checked():
    resolver = Resolver({"hooks.example": ["93.184.215.14", "93.184.215.15"]})
    target = target_for("https://Hooks.Example:8443/in?x=1#frag", resolver=resolver, allow_loopback=False)
    assert target == transport.Target(
        scheme="https", host="hooks.example", port=8443, path="/in?x=1", address="93.184.215.14"
    )
    assert target.host_header == "hooks.example:8443"


@pytest.mark.parametrize(
    ("url", "allow_loopback", "reason"),
    [
        ("https://user:pass@hooks.example/", False, "The URL may not carry a user name or password."),
        ("https://user@hooks.example/", False, "The URL may not carry a user name or password."),
        ("http://hooks.example/", False, "The URL must use https."),
        ("http://127.0.0.1:9/", False, "The URL must use https."),
        (
            "http://hooks.example/",
            True,
            "The URL must use https (http is allowed only to this machine, in local settings).",
        ),
        ("ftp://hooks.example/", True, "The URL must start with https://."),
        ("file:///etc/passwd", True, "The URL must start with https://."),
        ("https:///no-host", False, "The URL names no host."),
        ("https://hooks.example:0/", False, "Port 0 cannot receive anything."),
        ("https://hooks.example:99999/", False, "This is not a valid URL."),
        ("https://[::1/", False, "This is not a valid URL."),
        ("https://unknown.example/", False, "unknown.example does not resolve."),
    ],
)
def test_urls_outside_the_rules_are_refused_before_any_connection(url, allow_loopback, reason, connections):
    resolver = Resolver({"hooks.example": ["93.184.215.14"]})
    with pytest.raises(UrlRefused) as refused:
        target_for(url, resolver=resolver, allow_loopback=allow_loopback)
    assert refused.value.reason == reason
    assert connections == []


def test_loopback_is_allowed_only_when_the_settings_allow_it(connections):
    resolver = Resolver({"localhost": ["127.0.0.1", "::1"]})
    with pytest.raises(UrlRefused, match="loopback"):
        target_for("https://localhost/", resolver=resolver, allow_loopback=False)
    target = target_for("http://localhost:8123/hooks", resolver=resolver, allow_loopback=True)
    assert (target.scheme, target.address, target.port, target.host_header) == (
        "http",
        "127.0.0.1",
        8123,
        "localhost:8123",
    )
    assert connections == []


def test_the_system_resolver_reads_numeric_shorthands_as_the_os_does():
    # getaddrinfo reads "127.1" and "2130706433" as 127.0.0.1 without any query: refused as loopback.
    for host in ("127.1", "2130706433"):
        with pytest.raises(UrlRefused, match="loopback"):
            target_for(f"https://{host}/", resolver=transport.system_resolver, allow_loopback=False)


def test_the_connection_goes_to_the_checked_address_and_names_the_host(connections):
    # A rebinding DNS: the first answer is checked and pinned; a second lookup would get a private address.
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    asked = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    with receiving(status=200, body=b"ok") as receiver:
        target = target_for(f"http://hooks.example:{receiver.port}/in", resolver=rebinding, allow_loopback=True)
        response = transport.post(target, body=b"{}", headers={"webhook-id": "evt_1"}, timeout=5, cap=1024)
    assert (response.status, response.excerpt, response.error) == (200, "ok", "")
    assert asked == ["hooks.example"]  # resolved once: the connection used the address checked
    assert connections == [("127.0.0.1", receiver.port)]
    assert receiver.received[0].headers["host"] == f"hooks.example:{receiver.port}"
    assert receiver.received[0].path == "/in"


def test_a_redirect_is_answered_not_followed(connections):
    with receiving(status=302, location="http://169.254.169.254/latest/meta-data/") as receiver:
        target = target_for(receiver.url, resolver=Resolver({}), allow_loopback=True)
        response = transport.post(target, body=b"{}", headers={}, timeout=5, cap=1024)
    assert (response.status, response.ok, response.error) == (302, False, "redirect (302) not followed")
    assert len(receiver.received) == 1
    assert connections == [("127.0.0.1", receiver.port)]


def test_at_most_cap_bytes_of_the_answer_are_read():
    with receiving(status=200, body=b"x" * 300_000) as receiver:
        target = target_for(receiver.url, resolver=Resolver({}), allow_loopback=True)
        response = transport.post(target, body=b"{}", headers={}, timeout=5, cap=4096)
    assert response.status == 200
    assert response.excerpt == "x" * transport.EXCERPT_CHARS


def test_a_nul_in_the_answer_is_not_stored_as_one():
    with receiving(status=500, body=b"bad\x00answer") as receiver:
        target = target_for(receiver.url, resolver=Resolver({}), allow_loopback=True)
        response = transport.post(target, body=b"{}", headers={}, timeout=5, cap=4096)
    assert (response.status, response.excerpt, response.error) == (500, "bad\ufffdanswer", "answered 500")


def test_a_receiver_that_hangs_is_abandoned_at_the_deadline():
    with receiving(hang=True) as receiver:
        target = target_for(receiver.url, resolver=Resolver({}), allow_loopback=True)
        response = transport.post(target, body=b"{}", headers={}, timeout=0.5, cap=1024)
        still_hanging = not receiver.release.is_set()
    assert still_hanging  # post returned while the receiver still held the request
    assert (response.status, response.error) == (None, "timed out")


def test_a_closed_port_is_an_answer_not_an_exception():
    with receiving() as receiver:
        port = receiver.port
    target = target_for(f"http://127.0.0.1:{port}/", resolver=Resolver({}), allow_loopback=True)
    response = transport.post(target, body=b"{}", headers={}, timeout=2, cap=1024)
    assert (response.status, response.error) == (None, "connection refused")


# --- TLS: the pinned address, the hostname for SNI and the certificate ---------------------------------


def _certificate(hostname: str, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "cert.pem", tmp_path / "key.pem", cert_pem.decode()


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS server on 127.0.0.1 with a certificate for hooks.example; records SNI and Host."""
    cert, key, pem = _certificate("hooks.example", tmp_path)
    seen: dict = {"sni": [], "host": []}
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server_context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["host"].append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cadata=pem)
    yield server.server_address[1], client_context, seen
    server.shutdown()
    server.server_close()


def test_tls_goes_to_the_pinned_address_with_the_hostname_for_sni_and_the_certificate(tls_receiver, connections):
    port, context, seen = tls_receiver
    resolver = Resolver({"hooks.example": ["127.0.0.1"]})
    target = target_for(f"https://hooks.example:{port}/in", resolver=resolver, allow_loopback=True)
    response = transport.post(target, body=b"{}", headers={}, timeout=5, cap=1024, ssl_context=context)
    assert (response.status, response.error) == (204, "")
    assert seen == {"sni": ["hooks.example"], "host": [f"hooks.example:{port}"]}
    assert connections == [("127.0.0.1", port)]


def test_a_certificate_for_another_name_is_refused(tls_receiver):
    port, context, seen = tls_receiver
    resolver = Resolver({"other.example": ["127.0.0.1"]})
    target = target_for(f"https://other.example:{port}/in", resolver=resolver, allow_loopback=True)
    response = transport.post(target, body=b"{}", headers={}, timeout=5, cap=1024, ssl_context=context)
    assert response.status is None
    assert response.error.startswith("TLS certificate refused")
    assert seen["host"] == []  # nothing was sent
