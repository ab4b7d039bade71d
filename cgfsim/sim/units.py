"""Unit types, defined as data, and the lookup tables the engine gathers from.

| type      | hp | speed | sight | range | hit near/far | dmg soft/hard | ammo | reload |
|-----------|----|-------|-------|-------|--------------|---------------|------|--------|
| infantry  | 10 | 1     | 6     | 4     | 0.60/0.30    | 3 / 1         | 40   | 1      |
| armour    | 30 | 2     | 5     | 6     | 0.70/0.35    | 5 / 10        | 24   | 2      |
| recon     | 8  | 2     | 9     | 3     | 0.50/0.25    | 2 / 0         | 30   | 1      |
| artillery | 8  | 1     | 4     | 10    | 0.35/0.25    | 8 / 5         | 12   | 3      |

Armour is armoured (takes ``damage_hard``); artillery fires indirectly.

Ranges are Euclidean, compared as integer squared distances
(``dx*dx + dy*dy <= range*range``). Hit probability falls linearly in the
squared distance from ``hit_near`` at distance 0 to ``hit_far`` at the weapon
range, then is multiplied by the target's cover factor (:data:`COVER_FACTOR`:
1.0, 0.7, 0.4 for cover 0, 1, 2). Probabilities are stored as integer
thresholds out of 65536 so that results agree across machines.

Direct fire needs the shooter's own line of sight to the target; indirect
fire (artillery) needs only that the target is seen by the shooter's side
(a spotter). Damage is ``damage_hard`` against armoured targets and
``damage_soft`` otherwise. Reload is the number of ticks between shots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cgfsim.sim.terrain import MAX_COVER

#: Probabilities are thresholds out of this many (16 bits).
P_ONE = 65536
COVER_FACTOR = (1.0, 0.7, 0.4)


@dataclass(frozen=True)
class UnitType:
    name: str
    char: str  # letter for text maps: upper case blue, lower case red
    hp: int
    speed: int
    sight: int
    weapon_range: int
    hit_near: float
    hit_far: float
    damage_soft: int
    damage_hard: int
    ammo: int
    reload: int
    armoured: bool = False
    indirect: bool = False


UNIT_TYPES: tuple[UnitType, ...] = (
    UnitType("infantry", "I", 10, 1, 6, 4, 0.60, 0.30, 3, 1, 40, 1),
    UnitType("armour", "A", 30, 2, 5, 6, 0.70, 0.35, 5, 10, 24, 2, armoured=True),
    UnitType("recon", "R", 8, 2, 9, 3, 0.50, 0.25, 2, 0, 30, 1),
    UnitType("artillery", "G", 8, 1, 4, 10, 0.35, 0.25, 8, 5, 12, 3, indirect=True),
)
TYPE_INDEX: dict[str, int] = {t.name: i for i, t in enumerate(UNIT_TYPES)}
N_TYPES = len(UNIT_TYPES)

# Flat per-type arrays (index = type code).
HP = np.array([t.hp for t in UNIT_TYPES], dtype=np.float32)
SPEED = np.array([t.speed for t in UNIT_TYPES], dtype=np.int8)
SIGHT2 = np.array([t.sight**2 for t in UNIT_TYPES], dtype=np.int16)
RANGE2 = np.array([t.weapon_range**2 for t in UNIT_TYPES], dtype=np.int16)
AMMO = np.array([t.ammo for t in UNIT_TYPES], dtype=np.int16)
RELOAD = np.array([t.reload for t in UNIT_TYPES], dtype=np.int8)
ARMOURED = np.array([t.armoured for t in UNIT_TYPES])
INDIRECT = np.array([t.indirect for t in UNIT_TYPES])
#: DAMAGE[attacker_type, target_type]
DAMAGE = np.array(
    [[t.damage_hard if u.armoured else t.damage_soft for u in UNIT_TYPES] for t in UNIT_TYPES],
    dtype=np.float32,
)
MAX_RANGE = max(max(t.sight, t.weapon_range) for t in UNIT_TYPES)


def hit_table(max_d2: int) -> np.ndarray:
    """``HIT[type, cover, d2]``: hit threshold out of :data:`P_ONE` (0 beyond range)."""
    table = np.zeros((N_TYPES, MAX_COVER + 1, max_d2 + 1), dtype=np.int32)
    d2 = np.arange(max_d2 + 1, dtype=np.float64)
    for i, t in enumerate(UNIT_TYPES):
        r2 = float(t.weapon_range**2)
        p = t.hit_near + (t.hit_far - t.hit_near) * np.minimum(d2 / r2, 1.0)
        for c in range(MAX_COVER + 1):
            thr = np.round(p * COVER_FACTOR[c] * P_ONE).astype(np.int32)
            thr[d2 > r2] = 0
            table[i, c] = thr
    return table
