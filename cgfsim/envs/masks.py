"""Action masks: which of a side's actions can have an effect now, for every world at once.

Invalid actions are no-ops in the engine anyway; masks only spare learners
that use them (MaskablePPO, masked sampling) from wasting ticks. A mask is
computed from what the side knows, so it never reveals a hidden enemy:

- ``stay`` is always valid (also for dead and absent units, their only action);
- a move is valid when the unit is alive, the target cell is on the map and
  passable, the unit has the movement points for it, and no own live unit or
  visible enemy stands there now (a hidden enemy's cell looks free; the move
  then bounces, a no-op);
- ``fire_nearest`` is valid when the unit can fire (alive, not reloading,
  ammunition left) and some enemy is engageable; ``fire_at_j`` when enemy j is:
  alive and seen by the side, within weapon range, and in the shooter's own
  line of sight unless it fires indirectly;
- ``take_cover`` is valid for live units.

Masks are in the side's canonical frame (red's north and south swapped, see
:mod:`cgfsim.envs.observations`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cgfsim.sim import actions as A
from cgfsim.sim.terrain import MP_CAP

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

_MOVES = (A.NORTH, A.EAST, A.SOUTH, A.WEST)


class MaskBuilder:
    """Computes (n, O, 7 + E) boolean masks of one side's actions."""

    def __init__(self, engine: Engine, side: int) -> None:
        e = self.e = engine
        self.side = side
        nb = e.nb
        self.own = slice(0, nb) if side == 0 else slice(nb, e.U)
        self.en = slice(nb, e.U) if side == 0 else slice(0, nb)
        self.O = self.own.stop - self.own.start
        self.E = self.en.stop - self.en.start
        self.n_actions = A.n_actions(self.E)
        # Per map-flat cell and canonical move (red's north is the map's south): the target
        # cell within its map (the cell itself when off the map) and what entering it costs
        # (127, above any unit's movement points, when off the map or impassable).
        moves = list(_MOVES)
        if side == 1:
            moves[0], moves[2] = A.SOUTH, A.NORTH
        m, h, w = e.maps.shape
        rr, cc = np.divmod(np.arange(h * w), w)
        target = np.empty((h * w, 4), np.int64)
        inside = np.empty((h * w, 4), bool)
        for k, a in enumerate(moves):
            ny, nx = rr + A.DY[a], cc + A.DX[a]
            inside[:, k] = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            target[:, k] = np.where(inside[:, k], ny * w + nx, rr * w + cc)
        cost = e.cost_flat.reshape(m, h * w)[:, target]  # (M, C, 4) int8
        ok = e.passable_flat.reshape(m, h * w)[:, target] & inside[None]
        # Per map-flat cell and movement points 0..MP_CAP (a last row, all False, for dead
        # units): whether each canonical move is on the map, passable and affordable, the 4
        # answers packed in one uint32 so that one 1-D np.take serves a unit's 4 moves. The
        # engine keeps movement points in 0..MP_CAP (build caps them there: no passable cost
        # exceeds MP_CAP, so more points would allow the same moves).
        level = np.arange(MP_CAP + 2)[:, None]
        allowed = ok[:, :, None, :] & (level <= MP_CAP) & (level >= cost[:, :, None, :])
        self._move_ok = np.ascontiguousarray(allowed).view(np.uint32).reshape(-1)
        # targets (cells within the map) as 4 int16 packed in an int64, for the same reason
        self._target = target.astype(np.int16).view(np.int64)[:, 0]  # (C,)
        self._occ = np.zeros(0, bool)  # occupancy scratch, all False between builds

    def build(
        self,
        idx: np.ndarray | None = None,
        *,
        alive: np.ndarray | None = None,
        ready: np.ndarray | None = None,
    ) -> np.ndarray:
        """(n, O, 7 + E) bool for all worlds, or the worlds in ``idx``.

        ``alive`` and ``ready`` (n, O), the own units alive and able to fire, may be given
        when the caller has them (an observation build does).
        """
        e, own, en = self.e, self.own, self.en
        w: slice | np.ndarray = slice(None) if idx is None else idx
        n = e.B if idx is None else len(idx)
        m = np.empty((n, self.O, self.n_actions), bool)
        if alive is None:
            alive = e.alive[w, own]
        if ready is None:
            ready = alive & (e.cooldown[w, own] == 0) & (e.ammo[w, own] > 0)
        m[..., A.STAY] = True
        m[..., A.TAKE_COVER] = alive
        # fire: the engine's per-tick engagement table (range, own sight unless indirect, fog)
        engage = (e.engage_b if self.side == 0 else e.engage_r)[w]
        np.logical_and(engage, ready[..., None], out=m[..., A.FIRE_AT :])
        np.logical_and(e.has_target[w, own], ready, out=m[..., A.FIRE_NEAREST])
        # moves: cells of live own units and visible enemies are taken (hidden ones look free)
        c = e.n_cells
        cell = e.y[w].astype(np.int64) * e.W + e.x[w]  # int64 (intp): the fastest index
        occupied = e.alive[w].copy()
        occupied[:, en] &= e.visible[w, en]
        if self._occ.size < n * c + 1:
            self._occ = np.zeros(n * c + 1, bool)
        occ = self._occ  # one grid per world, then a spare cell for the free slots
        base = np.arange(0, n * c, c, dtype=np.int64)[:, None]
        spots = np.where(occupied, cell + base, occ.size - 1)
        occ[spots] = True
        here = cell[:, own]
        # np.take: much faster than fancy indexing for these small gathers
        to = np.take(self._target, here).view(np.int16).reshape(n, self.O, 4) + base[..., None]
        blocked = np.take(occ, to).view(np.uint32)[..., 0]  # 4 bools per unit
        occ[spots] = False
        if e.n_maps > 1:
            here = here + e.map_id[w].astype(np.int64)[:, None] * c
        level = np.where(alive, np.minimum(e.mp[w, own], MP_CAP), MP_CAP + 1)
        ok = np.take(self._move_ok, here * (MP_CAP + 2) + level)
        ok &= ~blocked
        m[..., A.NORTH : A.WEST + 1] = ok.view(bool).reshape(n, self.O, 4)
        return m
