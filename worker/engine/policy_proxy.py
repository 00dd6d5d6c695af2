"""A forward proxy on loopback that applies the URL policy to every connection Chromium makes.

Playwright's request routing does not see redirect hops, so the policy is enforced here
instead: each request (plain HTTP) or tunnel (CONNECT, for HTTPS and WebSockets) names its
host; the proxy resolves it, refuses it when any address breaks the policy, and otherwise
connects to the address it checked (so a DNS answer cannot change between check and use).
Refusals are answered ``403`` with an ``X-Pilothouse-Blocked`` header and logged for the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from worker.engine.url_policy import UrlPolicy

log = logging.getLogger(__name__)
BLOCK_HEADER = "X-Pilothouse-Blocked"
HOP_HEADERS = {b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive"}
CONNECT_TIMEOUT_S = 15
HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Block:
    """One refused request: ``target`` is a URL (plain HTTP) or ``host:port`` (a tunnel)."""

    seq: int
    target: str
    host: str
    port: int
    rule: str


class PolicyProxy:
    """Runs on its own thread and event loop; ``url`` is what Chromium's ``--proxy-server`` gets."""

    def __init__(self, policy: UrlPolicy):
        self.policy = policy
        self.blocks: list[Block] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="policy-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def start(self) -> str:
        """Listen on a free loopback port; return the proxy URL."""
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0, limit=HEAD_LIMIT), self._loop
        ).result()
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    def stop(self) -> None:
        """Close the listener and every open connection, then the loop."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def blocks_since(self, seq: int) -> list[Block]:
        """Refusals logged after ``seq`` (use ``len(blocks)`` as a mark)."""
        return self.blocks[seq:]

    async def _check(self, host: str, port: int) -> tuple[str | None, list[str]]:
        """(rule, []) when refused, else (None, the checked addresses to connect to)."""
        try:
            infos = await self._loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            infos = []
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        rule = self.policy.check_host(host, addresses)
        return (rule, []) if rule else (None, [info[4][0] for info in infos])

    def _log_block(self, target: str, host: str, port: int, rule: str) -> None:
        self.blocks.append(Block(len(self.blocks), target, host, port, rule))
        log.info("blocked %s: %s", target, rule)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            await self._forward(head, reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _forward(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line, _, rest = head.partition(b"\r\n")
        method, target, version = request_line.decode("latin-1").split(" ", 2)
        if method == "CONNECT":
            host, _, port_text = target.rpartition(":")
            host, port, shown = host.strip("[]"), int(port_text), target
        else:
            url = urlsplit(target)
            if url.scheme != "http" or not url.hostname:
                return await _refuse(writer, target, "only http:// requests can be proxied", 400)
            host, port, shown = url.hostname, url.port or 80, target
        rule, addresses = await self._check(host, port)
        if rule:
            self._log_block(shown, host, port, rule)
            return await _refuse(writer, shown, rule)
        try:
            upstream_r, upstream_w = await _connect(addresses, port)
        except ConnectionError as exc:
            return await _refuse(writer, shown, str(exc), 502, block=False)
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        else:
            upstream_w.write(_origin_form(method, url, version, rest))
        await _pipe_both(reader, writer, upstream_r, upstream_w)


async def _connect(addresses: list[str], port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the first checked address that answers (``localhost`` is ::1 and 127.0.0.1)."""
    error: Exception = OSError("no address")
    for address in addresses:
        try:
            return await asyncio.wait_for(asyncio.open_connection(address, port), CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError) as exc:
            error = exc
    raise ConnectionError(f"cannot connect to port {port}: {error}")


def _origin_form(method: str, url, version: str, rest: bytes) -> bytes:
    """The request as the origin server expects it, on a connection used once."""
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    headers = [h for h in rest.split(b"\r\n") if h and h.split(b":", 1)[0].strip().lower() not in HOP_HEADERS]
    lines = [f"{method} {path} {version}".encode("latin-1"), *headers, b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _refuse(writer: asyncio.StreamWriter, target: str, rule: str, status: int = 403,
                  block: bool = True) -> None:
    """Answer with an error page; a policy refusal carries the rule in ``X-Pilothouse-Blocked``."""
    title = "Blocked by the URL policy" if block else "Cannot reach the site"
    body = (
        f"<!doctype html><title>{title}</title><h1>{title}</h1>"
        f"<p>{html.escape(target)}</p><p>{html.escape(rule)}</p>"
    ).encode()
    clean = rule.encode("ascii", "replace").decode().replace("\r", " ").replace("\n", " ")
    header = f"{BLOCK_HEADER}: {clean}\r\n" if block else ""
    writer.write(
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n{header}"
        f"Content-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode() + body
    )
    await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _pipe_both(cr, cw, ur, uw) -> None:
    """Copy bytes both ways until either side closes."""
    await asyncio.gather(_pipe(cr, uw), _pipe(ur, cw))
