"""After-action review in the browser: replays as one self-contained HTML page.

``build_html([(label, replay, track), ...])`` returns the page as text; the
CLI writes it with ``cgfsim replay FILE... --html out.html``. The page's
HTML, CSS and JavaScript are real files in ``static/`` (readable, lintable,
no build step); the replays travel inside it as JSON (:mod:`.payload`), with
the after-action review computed here in Python (:mod:`.aar`).

Depends on :mod:`cgfsim.sim` only.
"""

from __future__ import annotations

from cgfsim.viewer.aar import after_action
from cgfsim.viewer.page import build_html, document, static_text
from cgfsim.viewer.payload import sight_cells, track_payload

__all__ = ["after_action", "build_html", "document", "sight_cells", "static_text", "track_payload"]
