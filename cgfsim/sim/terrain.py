"""Terrain: the cell types of a map and what each does to movement, sight and cover.

| char | name     | passable | move cost | blocks sight          | cover |
|------|----------|----------|-----------|-----------------------|-------|
| ``.``| open     | yes      | 2         | no                    | 0     |
| ``#``| obstacle | no       | -         | yes (buildings, rock) | -     |
| ``T``| forest   | yes      | 4         | beyond it; conceals   | 2     |
| ``~``| water    | no       | -         | no                    | -     |
| ``=``| road     | yes      | 1         | no                    | 0     |
| ``%``| rough    | yes      | 4         | no                    | 1     |

Move cost is in movement points: a unit gains its type's ``speed`` points per
tick (capped at :data:`MP_CAP`) and may step into a cell when it has at least
that cell's cost. Infantry (speed 1) thus crosses open ground every second
tick and roads every tick; armour (speed 2) every tick on open ground.

Forest blocks the line of sight through it, but a unit standing inside a
forest cell can see out and be seen from outside; it is concealed, though:
it is seen only from within :data:`CONCEAL_D2` (squared distance, 2 cells).
Cover levels reduce the chance to be hit (see :mod:`cgfsim.sim.units`).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Terrain(IntEnum):
    OPEN = 0
    OBSTACLE = 1
    FOREST = 2
    WATER = 3
    ROAD = 4
    ROUGH = 5


N_TERRAIN = len(Terrain)

#: Map character -> terrain code. ``B`` is accepted as a building (obstacle).
LEGEND: dict[str, Terrain] = {
    ".": Terrain.OPEN,
    "#": Terrain.OBSTACLE,
    "B": Terrain.OBSTACLE,
    "T": Terrain.FOREST,
    "~": Terrain.WATER,
    "=": Terrain.ROAD,
    "%": Terrain.ROUGH,
}
#: Terrain code -> canonical character used when printing maps.
CHAR: dict[Terrain, str] = {
    Terrain.OPEN: ".",
    Terrain.OBSTACLE: "#",
    Terrain.FOREST: "T",
    Terrain.WATER: "~",
    Terrain.ROAD: "=",
    Terrain.ROUGH: "%",
}

#: Movement points a unit's type gains per tick accumulate up to this cap.
MP_CAP = 4
#: Squared distance within which a unit in forest can be seen.
CONCEAL_D2 = 4

# Per-terrain lookup tables, indexed by terrain code.
PASSABLE = np.array([True, False, True, False, True, True])
MOVE_COST = np.array([2, 127, 4, 127, 1, 4], dtype=np.int8)
BLOCKS_SIGHT = np.array([False, True, True, False, False, False])
COVER = np.array([0, 0, 2, 0, 0, 1], dtype=np.int8)
CONCEALS = np.array([False, False, True, False, False, False])

#: Highest cover level (terrain cover plus the take-cover bonus is capped here).
MAX_COVER = 2


def describe() -> str:
    """One line per terrain type, for ``cgfsim show`` and the docs."""
    rows = []
    for t in Terrain:
        eff = []
        eff.append(f"move cost {MOVE_COST[t]}" if PASSABLE[t] else "impassable")
        if BLOCKS_SIGHT[t]:
            eff.append("blocks sight")
        if COVER[t]:
            eff.append(f"cover {COVER[t]}")
        if CONCEALS[t]:
            eff.append("conceals")
        rows.append(f"{CHAR[t]!r} {t.name.lower():8s} {', '.join(eff)}")
    return "\n".join(rows)
