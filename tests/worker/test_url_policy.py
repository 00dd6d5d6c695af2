"""The URL policy (which addresses a task may reach) and the proxy that applies it, on real sockets."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from worker.engine.policy_proxy import BLOCK_HEADER, PolicyProxy
from worker.engine.url_policy import UrlBlocked, UrlPolicy, address_rule

pytestmark = pytest.mark.timeout(60)

ip = ipaddress.ip_address


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "loopback address"),
        ("127.10.20.30", "loopback address"),
        ("::1", "loopback address"),
        ("10.0.0.1", "private network address"),
        ("10.255.255.254", "private network address"),
        ("172.16.0.1", "private network address"),
        ("172.31.255.254", "private network address"),
        ("192.168.1.1", "private network address"),
        ("fc00::1", "private network address"),
        ("fd12:3456::1", "private network address"),
        ("169.254.1.1", "link-local address"),
        ("fe80::1", "link-local address"),
        ("169.254.169.254", "cloud metadata address"),
        ("169.254.170.2", "cloud metadata address"),
        ("100.100.100.200", "cloud metadata address"),
        ("fd00:ec2::254", "cloud metadata address"),
        ("224.0.0.1", "multicast address"),
        ("239.255.255.250", "multicast address"),
        ("ff02::1", "multicast address"),
        ("100.64.0.1", "non-public address"),
        ("100.127.255.254", "non-public address"),
        ("::ffff:127.0.0.1", "loopback address"),
        ("::ffff:10.1.2.3", "private network address"),
        ("::ffff:169.254.169.254", "cloud metadata address"),
        ("0.0.0.0", "unspecified address"),
        ("::", "unspecified address"),
    ],
)
def test_non_public_addresses_are_refused_by_rule(address, rule):
    assert address_rule(ip(address)) == rule


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "2a00:1450:4001::1"]
)
def test_public_addresses_are_allowed(address):
    assert address_rule(ip(address)) is None


def test_a_host_name_resolving_to_loopback_is_blocked_naming_host_address_and_rule():
    rule = UrlPolicy().check_host("localhost", [ip("127.0.0.1")])
    assert rule is not None
    assert rule.startswith("localhost resolves to 127.0.0.1, a loopback address; ")
    assert "ALLOW_PRIVATE_NETWORKS=1" in rule and "URL_ALLOWLIST" in rule


def test_an_address_literal_is_blocked_naming_the_rule_and_hint():
    rule = UrlPolicy().check_host("10.0.0.5", [ip("10.0.0.5")])
    assert rule.startswith("private network address; ") and "ALLOW_PRIVATE_NETWORKS" in rule
    rule6 = UrlPolicy().check_host("[::1]", [ip("::1")])
    assert rule6.startswith("loopback address; ")


def test_public_hosts_are_allowed():
    assert UrlPolicy().check_host("example.org", [ip("93.184.215.14"), ip("2606:2800:21f:cb07::1")]) is None


def test_a_host_with_one_public_and_one_private_address_is_blocked():
    rule = UrlPolicy().check_host("rebind.example", [ip("8.8.8.8"), ip("192.168.0.10")])
    assert rule is not None
    assert rule.startswith("rebind.example resolves to 192.168.0.10, a private network address")
    # the order of the answers does not matter
    assert UrlPolicy().check_host("rebind.example", [ip("192.168.0.10"), ip("8.8.8.8")]) == rule


def test_a_host_that_does_not_resolve_is_blocked():
    assert UrlPolicy().check_host("nowhere.invalid", []) == "host does not resolve"


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.", "metadata",
                                  "instance-data"])
def test_metadata_host_names_are_blocked_whatever_they_resolve_to(host):
    assert UrlPolicy().check_host(host, [ip("8.8.8.8")]) == "cloud metadata host"


def test_allow_list_by_exact_host():
    policy = UrlPolicy.from_allowlist(["intranet.example", "LOCALHOST."])
    assert policy.check_host("intranet.example", [ip("10.0.0.7")]) is None
    assert policy.check_host("Intranet.Example.", [ip("10.0.0.7")]) is None
    assert policy.check_host("localhost", [ip("127.0.0.1"), ip("::1")]) is None
    # exact means exact: neither subdomains nor the address itself
    assert policy.check_host("www.intranet.example", [ip("10.0.0.7")]) is not None
    assert policy.check_host("10.0.0.7", [ip("10.0.0.7")]) is not None
    assert policy.check_host("127.0.0.1", [ip("127.0.0.1")]) is not None


def test_allow_list_by_domain_suffix():
    policy = UrlPolicy.from_allowlist([".corp.example"])
    for host in ("corp.example", "a.corp.example", "a.b.corp.example"):
        assert policy.check_host(host, [ip("10.1.1.1")]) is None, host
    for host in ("evilcorp.example", "corp.example.evil", "other.example"):
        assert policy.check_host(host, [ip("10.1.1.1")]) is not None, host


def test_allow_list_by_cidr_and_single_address():
    policy = UrlPolicy.from_allowlist(["10.20.0.0/16", "192.168.1.5", "[fd00::5]"])
    assert policy.check_host("10.20.3.4", [ip("10.20.3.4")]) is None
    assert policy.check_host("db.internal", [ip("10.20.9.9")]) is None
    assert policy.check_host("192.168.1.5", [ip("192.168.1.5")]) is None
    assert policy.check_host("fd00::5", [ip("fd00::5")]) is None
    assert policy.check_host("10.21.0.1", [ip("10.21.0.1")]) is not None
    assert policy.check_host("192.168.1.6", [ip("192.168.1.6")]) is not None
    # every address must be allowed: one allowed and one not is still blocked
    assert "10.30.0.1" in policy.check_host("mixed.internal", [ip("10.20.0.1"), ip("10.30.0.1")])


def test_allow_private_lifts_every_address_rule():
    policy = UrlPolicy.from_allowlist([], allow_private=True)
    assert policy.open
    for address in ("127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "fd00:ec2::254", "100.64.0.1"):
        assert policy.check_host(address, [ip(address)]) is None, address
    assert policy.check_host("metadata.google.internal", [ip("169.254.169.254")]) is None
    assert not UrlPolicy().open


@pytest.mark.parametrize("url", ["http://example.org/", "HTTPS://example.org/", "ws://example.org/socket",
                                 "wss://example.org/socket"])
def test_check_scheme_allows_http_and_websockets(url):
    UrlPolicy().check_scheme(url)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("file:///etc/passwd", "file"), ("javascript:alert(1)", "javascript"), ("chrome://settings", "chrome"),
     ("data:text/html,hi", "data"), ("ftp://example.org/", "ftp"), ("about:blank", "about")],
)
def test_check_scheme_refuses_other_schemes_naming_url_and_scheme(url, scheme):
    with pytest.raises(UrlBlocked) as caught:
        UrlPolicy().check_scheme(url)
    assert caught.value.url == url
    assert str(caught.value) == (
        f"blocked by the URL policy: {url} (scheme '{scheme}:' is not allowed; only http and https)"
    )


# --- the proxy, on real sockets -------------------------------------------------------------


@pytest.fixture
def start_proxy() -> Iterator:
    started: list[PolicyProxy] = []

    def start(policy: UrlPolicy) -> tuple[PolicyProxy, tuple[str, int]]:
        proxy = PolicyProxy(policy)
        url = urlsplit(proxy.start())
        started.append(proxy)
        return proxy, (url.hostname, url.port)

    yield start
    for proxy in started:
        proxy.stop()


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def _response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split(" ")[1]), headers, body


def _exchange(address: tuple[str, int], request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request)
        return _response(_read_all(sock))


def _get(url: str) -> bytes:
    host = urlsplit(url).netloc
    return f"GET {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: test\r\n\r\n".encode()


def test_proxy_blocks_a_private_address_with_403_and_logs_it(start_proxy, site):
    proxy, address = start_proxy(UrlPolicy.from_allowlist(["localhost"]))
    hits = len(site.server.hits)
    target = site.private_url("/secret")
    status, headers, body = _exchange(address, _get(target))
    assert status == 403
    assert headers[BLOCK_HEADER].startswith("loopback address; set ALLOW_PRIVATE_NETWORKS=1")
    assert b"Blocked by the URL policy" in body and target.encode() in body
    assert b"secret</h1>" not in body
    assert len(site.server.hits) == hits, "the server must never see the request"
    (block,) = proxy.blocks
    assert (block.target, block.host, block.port) == (target, "127.0.0.1", site.port)
    assert block.rule == headers[BLOCK_HEADER]


def test_proxy_blocks_a_host_name_that_resolves_to_loopback(start_proxy, site):
    proxy, address = start_proxy(UrlPolicy())
    status, headers, _ = _exchange(address, _get(site.url("/secret")))
    assert status == 403
    assert headers[BLOCK_HEADER].startswith("localhost resolves to ")
    assert "loopback address" in headers[BLOCK_HEADER]
    assert [b.host for b in proxy.blocks] == ["localhost"]


def test_proxy_blocks_a_numeric_spelling_of_loopback(start_proxy, site):
    _, address = start_proxy(UrlPolicy.from_allowlist(["localhost"]))
    status, headers, _ = _exchange(address, _get(f"http://2130706433:{site.port}/secret"))
    assert status == 403 and "loopback address" in headers[BLOCK_HEADER]


def test_proxy_forwards_an_allowed_host(start_proxy, site):
    proxy, address = start_proxy(UrlPolicy.from_allowlist(["localhost"]))
    status, headers, body = _exchange(address, _get(site.url("/secret?x=1")))
    assert status == 200, body
    assert body == b"<h1>secret</h1>"
    assert BLOCK_HEADER not in headers
    assert site.server.hits[-1] == "/secret"
    assert proxy.blocks == []


def test_proxy_refuses_a_request_that_is_not_absolute_http(start_proxy):
    proxy, address = start_proxy(UrlPolicy())
    status, headers, _ = _exchange(address, b"GET /secret HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400
    assert headers[BLOCK_HEADER] == "only http:// requests can be proxied"
    assert proxy.blocks == []


def test_proxy_refuses_a_tunnel_to_a_blocked_host(start_proxy, site):
    proxy, address = start_proxy(UrlPolicy.from_allowlist(["localhost"]))
    for target, rule in ((f"127.0.0.1:{site.port}", "loopback address"),
                         ("169.254.169.254:443", "cloud metadata address"),
                         ("[::1]:443", "loopback address")):
        request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()
        status, headers, _ = _exchange(address, request)
        assert status == 403, target
        assert headers[BLOCK_HEADER].startswith(rule), target
    assert [b.target for b in proxy.blocks] == [f"127.0.0.1:{site.port}", "169.254.169.254:443", "[::1]:443"]


def test_proxy_tunnels_to_an_allowed_host(start_proxy, site):
    proxy, address = start_proxy(UrlPolicy.from_allowlist(["localhost"]))
    with socket.create_connection(address, timeout=10) as sock:
        target = f"localhost:{site.port}"
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = _read_head(sock)
        assert head.startswith(b"HTTP/1.1 200 "), head
        sock.sendall(b"GET /secret HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        status, _, body = _response(_read_all(sock))
    assert status == 200 and body == b"<h1>secret</h1>"
    assert proxy.blocks == []


def test_proxy_with_allow_private_lets_loopback_through(start_proxy, site):
    proxy, address = start_proxy(UrlPolicy(allow_private=True))
    status, _, body = _exchange(address, _get(site.private_url("/secret")))
    assert (status, body) == (200, b"<h1>secret</h1>")
    assert proxy.blocks == []


def test_blocks_since_returns_only_later_refusals(start_proxy, site):
    proxy, address = start_proxy(UrlPolicy())
    _exchange(address, _get(site.private_url("/one")))
    mark = len(proxy.blocks)
    _exchange(address, _get(site.private_url("/two")))
    assert [b.target for b in proxy.blocks_since(mark)] == [site.private_url("/two")]
    assert [b.seq for b in proxy.blocks] == [0, 1]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_proxy_answers_502_when_an_allowed_host_refuses_the_connection(start_proxy):
    _, address = start_proxy(UrlPolicy.from_allowlist(["localhost"]))
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(_get(f"http://localhost:{_closed_port()}/"))
        raw = _read_all(sock)
    assert raw.startswith(b"HTTP/1.1 502 ")
