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
        self.dy = A.DY[list(_MOVES)].astype(np.int64)
        self.dx = A.DX[list(_MOVES)].astype(np.int64)
        # canonical column -> engine column: red's canonical north is the map's south
        cols = np.arange(self.n_actions)
        if side == 1:
            cols[[A.NORTH, A.SOUTH]] = [A.SOUTH, A.NORTH]
        self.cols = cols

    def build(self, idx: np.ndarray | None = None) -> np.ndarray:
        """(n, O, 7 + E) bool for all worlds, or the worlds in ``idx``."""
        e, own, en = self.e, self.own, self.en
        w: slice | np.ndarray = slice(None) if idx is None else idx
        n = e.B if idx is None else len(idx)
        m = np.zeros((n, self.O, self.n_actions), bool)
        alive = e.alive[w, own]
        m[..., A.STAY] = True
        m[..., A.TAKE_COVER] = alive
        # fire: the engine's per-tick engagement table (range, own sight unless indirect, fog)
        ready = e.ready()[w, own]
        engage = (e.engage_b if self.side == 0 else e.engage_r)[w]
        m[..., A.FIRE_AT :] = engage & ready[..., None]
        m[..., A.FIRE_NEAREST] = e.has_target[w, own] & ready
        # moves
        y, x = e.y[w].astype(np.int64), e.x[w].astype(np.int64)
        occupied = e.alive[w].copy()
        occupied[:, en] &= e.visible[w, en]
        # one occupancy grid per world, flattened: world b's cell c is b * n_cells + c
        base = np.arange(n, dtype=np.int64)[:, None] * e.n_cells
        occ = np.zeros(n * e.n_cells, bool)
        occ[(base + y * e.W + x)[occupied]] = True
        ny = y[:, own, None] + self.dy  # (n, O, 4)
        nx = x[:, own, None] + self.dx
        inside = (ny >= 0) & (ny < e.H) & (nx >= 0) & (nx < e.W)
        cell = np.clip(ny, 0, e.H - 1) * e.W + np.clip(nx, 0, e.W - 1)
        flat = e.map_id[w].astype(np.int64)[:, None, None] * e.n_cells + cell
        ok = inside & e.passable_flat[flat] & (e.mp[w, own][..., None] >= e.cost_flat[flat])
        ok &= ~occ[base[:, :, None] + cell]
        m[..., A.NORTH : A.WEST + 1] = ok & alive[..., None]
        return m[..., self.cols] if self.side == 1 else m
