"""websockify token plug-in: a token is valid while its Redis key exists.

The key ``pilothouse:vnc-token:<token>`` holds the slot's VNC address, ``host:port`` or
``{"host": "host:port"}`` (the format of websockify's own TokenRedis). Unlike TokenRedis it
reads ``REDIS_URL`` from the environment, so no password appears on a command line.
"""

from __future__ import annotations

import json
import logging
import os

import redis
from websockify.token_plugins import BasePlugin

from worker.spec.channels import vnc_token_key

log = logging.getLogger(__name__)


def parse_target(value: str) -> tuple[str, str] | None:
    """``host:port`` or ``{"host": "host:port"}`` -> (host, port)."""
    if value.startswith("{"):
        value = json.loads(value).get("host", "")
    host, _, port = value.rpartition(":")
    return (host.strip("[]"), port) if host and port.isdigit() else None


class RedisTokens(BasePlugin):
    """``lookup(token)`` -> ``[host, port]`` or None when the token is unknown or expired."""

    def __init__(self, src: str = ""):
        super().__init__(src or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        self._client: redis.Redis | None = None
        self._pid = 0

    def _redis(self) -> redis.Redis:
        if self._client is None or self._pid != os.getpid():  # websockify forks per connection
            self._client = redis.Redis.from_url(self.source, decode_responses=True, socket_timeout=5)
            self._pid = os.getpid()
        return self._client

    def lookup(self, token: str) -> list[str] | None:
        if not token or len(token) > 200:
            return None
        try:
            value = self._redis().get(vnc_token_key(token))
        except redis.RedisError:
            log.exception("token lookup failed")
            return None
        target = parse_target(value) if value else None
        return list(target) if target else None
