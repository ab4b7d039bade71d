"""Assemble the self-contained viewer page: the static HTML, CSS and JS plus the replays.

The page is one file with no external reference: its stylesheet and script
are inlined from ``static/`` and the replays are embedded as one JSON
document in a ``<script type="application/json">`` element (every ``<``
escaped, so no text in a replay can close that element). A Content Security
Policy forbids the page any network access, so it works the same opened
from disk, from an e-mail attachment or behind an air gap.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

from cgfsim.sim.replay import Replay
from cgfsim.viewer.payload import PAYLOAD_VERSION, legend, track_payload

STATIC = ("viewer.html", "viewer.css", "viewer.js")
_SLOT = re.compile(r"__CGF_(TITLE|CSS|JS|DATA)__")


def static_text(name: str) -> str:
    """One of the page's static files, as shipped in the package."""
    if name not in STATIC:
        raise ValueError(f"unknown static file {name!r}; expected one of {STATIC}")
    return (resources.files("cgfsim.viewer") / "static" / name).read_text(encoding="utf-8")


def embed_json(obj: Any) -> str:
    """JSON text safe inside a ``<script>`` element: no ``<`` survives, so no ``</script>``."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def document(items: Sequence[tuple[str, Replay, int]], title: str) -> dict[str, Any]:
    """The JSON document of a page: ``(label, replay, track)`` per entry of its selector."""
    if not items:
        raise ValueError("a viewer page needs at least one replay")
    return {
        "version": PAYLOAD_VERSION,
        "title": title,
        "legend": legend(),
        "replays": [track_payload(rep, w, label) for label, rep, w in items],
    }


def build_html(items: Sequence[tuple[str, Replay, int]], title: str = "cgfsim replay") -> str:
    """The whole page as text; write it anywhere and open it in a browser."""
    js = static_text("viewer.js")
    if "</script" in js.lower():
        raise ValueError("viewer.js must not contain '</script'")
    parts = {
        "TITLE": html.escape(title),
        "CSS": static_text("viewer.css"),
        "JS": js,
        "DATA": embed_json(document(items, title)),
    }
    # One pass, so text inserted for one slot is never scanned for another.
    return _SLOT.sub(lambda m: parts[m.group(1)], static_text("viewer.html"))
