"""Template filters: times as people read them."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from main_app.ui import bp


@bp.app_template_filter("isotime")
def isotime(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else ""


@bp.app_template_filter("isodatetime")
def isodatetime(ts: float | None) -> str:
    """For ``<time datetime>``: ``2026-12-01T19:20:00Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


@bp.app_template_filter("ago")
def ago(ts: float | None) -> str:
    """'12 s ago', '5 min ago', '3 h ago', else the date."""
    if not ts:
        return ""
    delta = time.time() - ts
    if delta < 0:
        return "just now"
    if delta < 60:
        return f"{int(delta)} s ago"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
