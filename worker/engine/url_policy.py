"""Which addresses a task may reach: public http(s) only, unless the deployment allows more.

The policy judges a host by every address it resolves to, so a public name that points at a
private address is refused too. ``policy_proxy`` applies it to every connection Chromium makes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
ALLOWED_SCHEMES = frozenset({"http", "https", "ws", "wss"})
HINT = "set ALLOW_PRIVATE_NETWORKS=1 or add the host to URL_ALLOWLIST to allow it"


class UrlBlocked(Exception):
    """A URL the policy refuses; the message names the URL and the rule."""

    def __init__(self, url: str, rule: str):
        self.url, self.rule = url, rule
        super().__init__(f"blocked by the URL policy: {url} ({rule})")


def address_rule(ip: IPAddress) -> str | None:
    """The rule that forbids ``ip``, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    for rule, hit in (
        ("loopback address", ip.is_loopback),
        ("link-local address", ip.is_link_local),
        ("multicast address", ip.is_multicast),
        ("unspecified address", ip.is_unspecified),
        ("private network address", ip.is_private),
        ("non-public address", not ip.is_global),
    ):
        if hit:
            return rule
    return None


@dataclass(frozen=True)
class UrlPolicy:
    """Public http(s) only, plus the allow-list; ``allow_private`` lifts the address rules."""

    allow_private: bool = False
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_allowlist(cls, entries: list[str] | tuple[str, ...], allow_private: bool = False) -> UrlPolicy:
        """Entries are host names (``example.com``, ``.example.com`` for subdomains too),
        addresses or CIDR ranges."""
        hosts, networks = set(), []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(allow_private, frozenset(hosts), tuple(networks))

    @property
    def open(self) -> bool:
        """True when no address rule applies (no proxy is needed)."""
        return self.allow_private

    def host_allowed(self, host: str) -> bool:
        """True when the allow-list names ``host`` (or a parent domain written ``.domain``)."""
        host = host.lower().rstrip(".")
        if host in self.allow_hosts:
            return True
        return any(h.startswith(".") and (host.endswith(h) or host == h[1:]) for h in self.allow_hosts)

    def check_scheme(self, url: str) -> None:
        """Raise ``UrlBlocked`` unless the URL is http(s) or ws(s)."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise UrlBlocked(url, f"scheme '{scheme}:' is not allowed; only http and https")

    def check_host(self, host: str, addresses: list[IPAddress]) -> str | None:
        """The rule that forbids connecting to ``host`` at ``addresses``, or None."""
        if self.allow_private or self.host_allowed(host):
            return None
        if host.lower().rstrip(".") in METADATA_HOSTS:
            return "cloud metadata host"
        if not addresses:
            return "host does not resolve"
        for ip in addresses:
            if any(ip in net for net in self.allow_networks):
                continue
            rule = address_rule(ip)
            if rule:
                literal = host.strip("[]") == str(ip)
                return f"{rule}; {HINT}" if literal else f"{host} resolves to {ip}, a {rule}; {HINT}"
        return None
