"""What one task run gathers while its steps execute: console errors, blocked navigations,
crashes, and why it stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from playwright.async_api import ConsoleMessage as PwConsole
from playwright.async_api import Page, Request, Response

from worker.engine.policy_proxy import BLOCK_HEADER, PolicyProxy
from worker.spec import BlockedRequest, ConsoleMessage

MAX_CONSOLE = 100
MAX_TEXT = 2000
TUNNEL_REFUSED = "ERR_TUNNEL_CONNECTION_FAILED"


@dataclass
class RunState:
    """Filled in by page and browser events; read by the runner after each step."""

    proxy: PolicyProxy | None = None
    block_mark: int = 0
    console: list[ConsoleMessage] = field(default_factory=list)
    blocked_navigations: list[BlockedRequest] = field(default_factory=list)
    requested_hosts: set[str] = field(default_factory=set)
    crashed: str | None = None
    stop_reason: Literal["cancelled", "timed_out", "crashed"] | None = None

    def watch(self, page: Page) -> None:
        """Subscribe to the events of this task's page (the slot reports browser exits)."""
        page.on("request", lambda req: self.requested_hosts.add((urlsplit(req.url).hostname or "").lower()))
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self._add_console("pageerror", str(err), page.url))
        page.on("crash", lambda _: self.mark_crashed("the page crashed (its renderer process died)"))
        page.on("response", lambda resp: self._on_response(page, resp))
        page.on("requestfailed", lambda req: self._on_request_failed(page, req))

    def mark_crashed(self, why: str) -> None:
        """Record that the browser or the page died under the task (the first reason wins)."""
        self.crashed = self.crashed or why

    def _add_console(self, kind: Literal["console", "pageerror"], text: str, url: str | None) -> None:
        if len(self.console) < MAX_CONSOLE:
            self.console.append(ConsoleMessage(kind=kind, text=text[:MAX_TEXT], url=url or None))

    def _on_console(self, msg: PwConsole) -> None:
        url = (msg.location or {}).get("url") or ""
        # the browser's own request for a tab icon is not the page's error
        if msg.type == "error" and not urlsplit(url).path.endswith("/favicon.ico"):
            self._add_console("console", msg.text, url)

    def _on_response(self, page: Page, response: Response) -> None:
        rule = response.headers.get(BLOCK_HEADER.lower())
        if rule and response.request.is_navigation_request() and response.frame == page.main_frame:
            self.blocked_navigations.append(BlockedRequest(url=response.url, rule=rule, navigation=True))

    def _on_request_failed(self, page: Page, request: Request) -> None:
        if TUNNEL_REFUSED not in (request.failure or "") or self.proxy is None:
            return
        if not request.is_navigation_request() or request.frame != page.main_frame:
            return
        block = self.proxy_block_for(request.url)
        if block:
            self.blocked_navigations.append(block)

    def proxy_block_for(self, url: str) -> BlockedRequest | None:
        """The proxy's refusal of ``url``'s host during this run, if any."""
        if self.proxy is None:
            return None
        host = (urlsplit(url).hostname or "").lower()
        for block in reversed(self.proxy.blocks_since(self.block_mark)):
            if block.host.lower() == host:
                return BlockedRequest(url=url, rule=block.rule, navigation=True)
        return None

    def blocked_requests(self) -> list[BlockedRequest]:
        """The page's refused requests: navigations first, then sub-requests. Chromium's own
        background traffic (update checks and the like) is refused too, but not reported."""
        out = list(self.blocked_navigations)
        seen = {(urlsplit(b.url).hostname or "") for b in out}
        for block in self.proxy.blocks_since(self.block_mark) if self.proxy else ():
            host = block.host.lower()
            if host in self.requested_hosts and host not in seen:
                out.append(BlockedRequest(url=block.target, rule=block.rule))
        return out[:MAX_CONSOLE]
