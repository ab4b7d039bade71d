"""Open viewer pages in a real headless Chromium (tests, screenshots, load timing).

Uses Playwright for Python (the ``dev`` extra) driving the system's Chromium
(Debian's ``chromium`` package, ``/usr/bin/chromium``), never a browser that
Playwright downloads: these machines reach no download host. Chromium is
started with the flags a closed network needs (no background networking,
component updates or sync) and a fresh profile folder that is removed after.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Chromium flags for a headless run on a machine without network access.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def find_chromium() -> str | None:
    """The Chromium executable: ``$CGFSIM_CHROMIUM``, else ``chromium`` on the PATH."""
    env = os.environ.get("CGFSIM_CHROMIUM")
    if env:
        return env if os.path.isfile(env) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.path.isfile("/usr/bin/chromium") else None


def missing() -> str | None:
    """Why a headless browser cannot be opened here, or None if it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if find_chromium() is None:
        return "no chromium executable (apt-get install chromium, or set CGFSIM_CHROMIUM)"
    return None


@contextmanager
def browser(width: int = 1280, height: int = 820) -> Iterator[Any]:
    """A Playwright ``BrowserContext`` in headless Chromium; pages open with ``new_page()``."""
    why = missing()
    if why:
        raise RuntimeError(why)
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="cgfsim-chromium-") as profile,
        sync_playwright() as pw,
    ):
        ctx = pw.chromium.launch_persistent_context(
            profile,
            executable_path=find_chromium(),
            headless=True,
            args=list(FLAGS),
            viewport={"width": width, "height": height},
            device_scale_factor=1,
        )
        try:
            yield ctx
        finally:
            ctx.close()
