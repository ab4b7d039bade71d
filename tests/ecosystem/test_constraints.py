"""constraints.txt is one satisfiable set with the RL tools users bring, and CI installs them.

``make test`` installs ``cgfsim[dev,ecosystem]`` through ``constraints.txt``; if
the pins and the companions (RL Zoo, SuperSuit, Minari with jax, Shimmy) did not
fit together, that install would fail, or leave a broken set that ``pip check``
reports. ``make check-constraints`` resolves the same set from scratch against
the package index (network); this test checks the installed result offline, and
that the ecosystem tests cannot silently skip because a companion is missing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPANIONS = ("rl_zoo3", "supersuit", "minari", "jax", "shimmy", "pettingzoo", "sb3_contrib")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[_norm(name)] = version
    return pins


def test_companions_are_installed_at_their_pins() -> None:
    pins = _pins()
    for name in COMPANIONS:
        assert _norm(name) in pins, f"{name} has no pin in constraints.txt"
        installed = metadata.version(name)
        assert installed == pins[_norm(name)], (name, installed, pins[_norm(name)])
    assert pins["python-dateutil"].startswith("2.")  # typepy (RL Zoo) requires < 3


def test_installed_set_is_consistent() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "check", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    pins = _pins()
    off = {
        d.metadata["Name"]: d.version
        for d in metadata.distributions()
        if _norm(d.metadata["Name"]) in pins
        and d.version.split("+")[0] != pins[_norm(d.metadata["Name"])]
    }
    assert not off, f"installed versions differ from constraints.txt: {off}"


def test_extras_name_the_companions() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    eco = re.search(r"^ecosystem = \[(.*)\]$", text, re.M)
    assert eco is not None
    for name in ("rl_zoo3", "supersuit", "minari[hdf5,create]", "shimmy"):
        assert name in eco.group(1)
