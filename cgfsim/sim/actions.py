"""The action table, pinned here and used unchanged by every layer.

Every unit slot takes one discrete action per tick:

| action  | name          | effect                                                                 |
|---------|---------------|------------------------------------------------------------------------|
| 0       | stay          | do nothing                                                             |
| 1       | north         | move one cell up (row - 1)                                             |
| 2       | east          | move one cell right (column + 1)                                       |
| 3       | south         | move one cell down (row + 1)                                           |
| 4       | west          | move one cell left (column - 1)                                        |
| 5       | fire_nearest  | fire at the nearest enemy that can be engaged now                      |
| 6       | take_cover    | stay, hold fire, +1 cover from the next tick until it moves or fires   |
| 7 + j   | fire_at_j     | fire at enemy slot j (j < the enemy side's slot count)                 |

Fire resolves before movement and cover within a tick, so take_cover
protects against the next tick's fire, not the current one's.

Directions are absolute map directions (north is up in the printed map);
the env layer may canonicalise them for the red side.

An action inside this range that is impossible now is a no-op, never an
error: moving into an impassable cell, off the map, into a cell another unit
keeps or claims (see the bounce rule in :mod:`cgfsim.sim.rules`), or without
enough movement points; firing while reloading, without ammunition or with no
engageable target (dead, out of range, not seen, no line of sight for direct
fire); any action of a dead or absent unit. Actions outside the range raise.
"""

from __future__ import annotations

import numpy as np

STAY, NORTH, EAST, SOUTH, WEST, FIRE_NEAREST, TAKE_COVER = range(7)
FIRE_AT = 7
N_FIXED = 7
NAMES = ("stay", "north", "east", "south", "west", "fire_nearest", "take_cover")

#: (drow, dcol) for each action; zeros for non-moves.
DY = np.array([0, -1, 0, 1, 0, 0, 0], dtype=np.int16)
DX = np.array([0, 0, 1, 0, -1, 0, 0], dtype=np.int16)


def n_actions(n_enemy_slots: int) -> int:
    """Number of actions of a unit whose enemy side has ``n_enemy_slots`` slots."""
    return N_FIXED + n_enemy_slots


def action_name(a: int) -> str:
    return NAMES[a] if a < N_FIXED else f"fire_at_{a - FIRE_AT}"
