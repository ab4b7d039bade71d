"""The names of the doctrines, below the scenario loader, the engine and the doctrines.

The scenario loader checks doctrine hints by name; the doctrines import the
engine, which imports the scenario. Keeping the names here breaks that circle
(:mod:`cgfsim.sim.doctrines` checks its registry against this list).
"""

from __future__ import annotations

NAMES = ("hold", "advance", "assault", "defend", "flank", "retreat", "ambush", "random")
ALIASES = {
    "assault-nearest": "assault",
    "advance-to-objective": "advance",
    "defend-objective": "defend",
    "retreat-when-weakened": "retreat",
}


def canonical(name: str) -> str | None:
    """The registry name of ``name`` (aliases resolved), or None if there is no such doctrine."""
    key = ALIASES.get(name, name)
    return key if key in NAMES else None
