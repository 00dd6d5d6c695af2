"""Serve the demo shop's static pages over HTTP, using the standard library only."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

STATIC_DIR = Path(__file__).resolve().parent / "static"


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static file handler that does not log every request to stderr."""

    def log_message(self, *args: object) -> None:
        pass


class DemoSite:
    """The demo site on a ``ThreadingHTTPServer`` running in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare a site bound to ``host``:``port`` (port 0 picks a free port)."""
        self.host = host
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:8000``."""
        if self._server is None:
            raise RuntimeError("the demo site is not running")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> Self:
        """Start serving (no-op if already running) and return ``self``."""
        if self._server is None:
            handler = functools.partial(_QuietHandler, directory=str(STATIC_DIR))
            self._server = ThreadingHTTPServer((self.host, self.port), handler)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="demo-site", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (no-op if not running)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(host: str = "127.0.0.1", port: int = 0) -> DemoSite:
    """Start the demo site in the background and return it; stop it with ``.stop()``.

    Also usable as ``with serve() as site: ...`` (stopped on exit).
    """
    return DemoSite(host, port).start()
