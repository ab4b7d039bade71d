"""The full-information world state: what a centralised critic (MAPPO, QMIX) conditions on.

Unlike the observations (:mod:`cgfsim.envs.observations`), the state ignores
fog of war and is in the map's absolute frame (blue's slots first, rows as in
the scenario file), the same for every agent. It is a flat float32 vector in
[0, 1], built for all worlds of an engine at once:

- per unit slot (blue then red, ``F_UNIT`` values each; all zero for an absent
  slot): present, alive, red, row / (H - 1), col / (W - 1), type one-hot
  (infantry, armour, recon, artillery), hp fraction, ammunition fraction,
  reloading, movement points / cap, covered, seen by the enemy now;
- per objective (``F_OBJECTIVE`` values): controlled by blue, by red, blue's
  and red's hold progress (ticks held / ticks needed, capped at 1);
- tick / max_ticks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from gymnasium import spaces

from cgfsim.sim.terrain import MP_CAP
from cgfsim.sim.units import AMMO, HP, N_TYPES

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

F_UNIT = 11 + N_TYPES  # 11 scalars + the type one-hot
F_OBJECTIVE = 4


def state_size(engine: Engine) -> int:
    """Length of the state vector for this engine's scenario."""
    return engine.U * F_UNIT + engine.n_obj * F_OBJECTIVE + 1


def state_space(engine: Engine) -> spaces.Box:
    """``Box(0, 1, (state_size,), float32)``."""
    return spaces.Box(0.0, 1.0, (state_size(engine),), np.float32)


def build_state(engine: Engine, idx: np.ndarray | None = None) -> np.ndarray:
    """(n, state_size) float32 states of all worlds, or of the worlds in ``idx``."""
    e = engine
    w: slice | np.ndarray = slice(None) if idx is None else idx
    alive = e.alive[w]
    n = alive.shape[0]
    live = alive.astype(np.float32)
    t = e.utype
    u = np.zeros((n, e.U, F_UNIT), np.float32)
    u[..., 0] = e.present[None].astype(np.float32)
    u[..., 1] = live
    u[..., 2] = e.side[None].astype(np.float32) * u[..., 0]
    u[..., 3] = e.y[w] / max(e.H - 1, 1) * live
    u[..., 4] = e.x[w] / max(e.W - 1, 1) * live
    u[..., 5 : 5 + N_TYPES] = np.eye(N_TYPES, dtype=np.float32)[t][None] * live[..., None]
    c = 5 + N_TYPES
    u[..., c] = np.clip(e.hp[w] / HP[t][None], 0, 1) * live
    u[..., c + 1] = np.clip(e.ammo[w] / np.maximum(AMMO[t], 1)[None], 0, 1) * live
    u[..., c + 2] = (e.cooldown[w] > 0) * live
    u[..., c + 3] = np.clip(e.mp[w] / MP_CAP, 0, 1) * live
    u[..., c + 4] = e.covered[w] * live
    u[..., c + 5] = e.visible[w] * live
    parts = [u.reshape(n, -1)]
    if e.n_obj:
        o = np.zeros((n, e.n_obj, F_OBJECTIVE), np.float32)
        ctrl = e.controller[w]
        o[..., 0] = ctrl == 0
        o[..., 1] = ctrl == 1
        need = np.maximum(e.obj_hold, 1)[None, :, None]
        o[..., 2:4] = np.clip(e.hold[w] / need, 0, 1)
        parts.append(o.reshape(n, -1))
    parts.append(np.clip(e.tick[w] / e.scenario.max_ticks, 0, 1).astype(np.float32)[:, None])
    return np.concatenate(parts, axis=1)
