"""A tiny offline demo shop (static pages) for examples, tests and benchmarks.

Start it with ``serve()`` (a context manager) or ``python -m worker.demo_site``.
"""

from worker.demo_site.server import DemoSite, serve

__all__ = ["DemoSite", "serve"]
