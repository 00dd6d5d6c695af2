"""Task templates for the new-task page: the specs in ``examples/``, pointed at the demo site."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from main_app.settings import ROOT

EXAMPLES = ROOT / "examples"


def load_templates(demo_site_url: str = "") -> list[dict[str, Any]]:
    """Each example as ``{"id", "name", "spec"}``; relative URLs get ``base_url`` = the demo
    site (when one is configured), so they run as they are."""
    out = []
    for path in sorted(Path(EXAMPLES).glob("*.json")):
        try:
            spec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if demo_site_url and "base_url" not in spec:
            spec = {"version": spec.get("version", 1), "name": spec.get("name"),
                    "base_url": demo_site_url + "/", **{k: v for k, v in spec.items()
                                                       if k not in ("version", "name")}}
        out.append({"id": path.stem, "name": spec.get("name") or path.stem, "spec": spec})
    return out
