"""Hand-written counter-scripts ("probes") that test how much room a scenario leaves.

A probe is written like a doctrine, ``fn(engine, side) -> (B, n) actions``,
sees only what its side may know, and is vectorised over worlds; but it is
not a doctrine: it is not in the registry, it is not an opponent a learner
must beat, and it exists to answer one question for a calibration: can a
better plan than the doctrines' beat each doctrine? ``cgfsim calibrate
--probes tactician`` plays it against every doctrine; its results count
toward the best-known scores.

``tactician`` exploits what the doctrines ignore:

- **focus fire**: every unit that can fire shoots the engageable enemy with
  the fewest hit points (the doctrines shoot the nearest);
- **stand-off**: a unit that cannot fire but stands where a known enemy
  (judged from its last seen cell, type and the map's line of sight) can hit
  it steps away, so longer-ranged units (armour 6, artillery 10) fight
  outside the reach of shorter-ranged ones and nobody stands in fire while
  reloading;
- **patience**: a unit within its own range of a known enemy's last seen cell
  waits in cover rather than walking into the open; recon stops where it can
  see, artillery where it can reach;
- **objectives**: with nothing to fight, the force takes and holds the
  objective (points at the time limit), otherwise it closes on the enemy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from cgfsim.sim import actions as A
from cgfsim.sim import units as U
from cgfsim.sim.doctrines import _neighbours, _View

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

_BIG = np.int64(1 << 40)


def _last_seen_geometry(e: Engine, v: _View, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared distance and line of sight from map-flat ``cells`` (B, ...) to every enemy's
    last seen cell: (B, ..., E)."""
    c = e.n_cells
    en = np.maximum(e.last_y[:, v.en], 0).astype(np.int64) * e.W + np.maximum(e.last_x[:, v.en], 0)
    shape = (e.B,) + (1,) * (cells.ndim - 1) + (en.shape[1],)
    val = np.take(e.pair_flat, cells[..., None] * c + en.reshape(shape))
    return val >> 1, (val & 1).astype(bool)


def tactician(e: Engine, side: int) -> np.ndarray:
    v = _View(e, side)
    t_own, t_en = e.utype[v.own], e.utype[v.en]
    r2_own = U.RANGE2[t_own].astype(np.int64)[None, :]
    r2_en = U.RANGE2[t_en].astype(np.int64)[None, None, :]
    ind_en = U.INDIRECT[t_en][None, None, :]
    sight2 = U.SIGHT2[t_own].astype(np.int64)[None, :]
    # -- fire: the engageable enemy with the fewest hit points, nearest on ties
    hp = e.hp[:, v.en].astype(np.int64)
    key = np.where(v.engage, hp[:, None, :] * 4096 + v.d2, _BIG)
    act = np.where(v.can_fire, A.FIRE_AT + key.argmin(-1), A.TAKE_COVER).astype(np.int64)
    # -- what known enemies threaten, from their last seen cells
    here = e.map_id.astype(np.int64)[:, None] * e.n_cells + v.cell  # (B, n) map-flat
    d2, los = _last_seen_geometry(e, v, here)
    known = v.known[:, None, :]
    threat = known & (d2 <= r2_en) & (los | ind_en) & v.alive[:, :, None]
    threatened = threat.any(-1)
    near = np.where(known, d2, _BIG).min(-1)  # (B, n) to the nearest known enemy
    any_known = np.asarray(v.known.any(-1))[:, None]
    mover = v.mover
    # retreat: the neighbour cell that is farthest (min squared distance) from the threats
    nb = _neighbours(e)[here]  # (B, n, 4) map-flat
    nd2, _ = _last_seen_geometry(e, v, nb)  # (B, n, 4, E)
    away = np.where(threat[:, :, None, :], nd2, _BIG).min(-1)  # (B, n, 4)
    now = np.where(threat, d2, _BIG).min(-1)
    cost = e.cost_flat[nb]
    ok = e.passable_flat[nb] & (e.mp[:, v.own][..., None] >= cost) & (nb != here[..., None])
    away = np.where(ok, away, -1)
    k = away.argmax(-1)
    better = np.take_along_axis(away, k[..., None], -1)[..., 0] > now
    retreat = np.where(better, A.NORTH + k, A.TAKE_COVER)
    # advance: to the nearest known enemy until within own reach (recon: sight), else objective
    reach = np.where(t_own[None, :] == U.TYPE_INDEX["recon"], np.minimum(sight2, 64), r2_own)
    cell, _ = v.goal_enemy()
    goal = np.where(any_known, cell, v.goal_objective())
    if e.n_obj:
        x0, y0, x1, y1 = (int(c) for c in e.obj_rect[0])
        inside = (v.x >= x0) & (v.x <= x1) & (v.y >= y0) & (v.y <= y1)
        # infantry takes the objective when the enemy is far; the rest close to their reach
        far = near > 100
        goal = np.where(
            far & (t_own[None, :] == U.TYPE_INDEX["infantry"]), v.goal_objective(), goal
        )
        stay = inside & far & (t_own[None, :] == U.TYPE_INDEX["infantry"])
    else:
        stay = np.zeros_like(v.alive)
    step = v.move_to(goal)
    wait = (any_known & (near <= reach)) | stay
    moving = np.where(wait, A.TAKE_COVER, step)
    act = np.where(mover & threatened, retreat, np.where(mover, moving, act))
    return np.where(v.alive, act, A.STAY).astype(np.int64)


PROBES: dict[str, Callable[[Engine, int], np.ndarray]] = {"tactician": tactician}
