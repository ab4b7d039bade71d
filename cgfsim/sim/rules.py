"""The engine's rules as pure, vectorised array functions over a batch of worlds.

Phases of one tick, all units of both sides acting simultaneously:

1. **Fire.** Every shooter picks its target from the state at the start of the
   tick (positions, line of sight and its side's fog of war). All shots
   resolve together, so a unit killed this tick still fires this tick.
2. **Move.** Units that survived the fire phase move. Conflicts resolve by
   the *bounce* rule, which is deterministic and side-neutral: a move fails
   when its target cell is also the target of another live unit (every
   claimant bounces, none wins), when another live unit stays in that cell
   (also when its own move failed), or when two units would swap cells. This
   is repeated until no conflict is left, so a failed move can block the unit
   behind it. Dead units occupy no cell.
3. **Upkeep.** Reload timers count down and movement points regenerate.
"""

from __future__ import annotations

import numpy as np

from cgfsim.sim import actions as A
from cgfsim.sim.terrain import CONCEAL_D2


def pair_geometry(
    y: np.ndarray, x: np.ndarray, nb: int, w: int, n_cells: int, map_id: np.ndarray,
    los_flat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Squared distance and line of sight for every (blue i, red j) pair: (B, nb, nr).

    ``los_flat`` is the pool's (M, C, C) table flattened, so one gather serves all pairs.
    """
    yi, xi = y[:, :nb, None].astype(np.int32), x[:, :nb, None].astype(np.int32)
    yj, xj = y[:, None, nb:].astype(np.int32), x[:, None, nb:].astype(np.int32)
    d2 = (yi - yj) ** 2 + (xi - xj) ** 2
    base = map_id.astype(np.int64)[:, None, None] * (n_cells * n_cells)
    idx = base + (yi * w + xi).astype(np.int64) * n_cells + (yj * w + xj)
    return d2, los_flat[idx]


def seen_by(
    d2: np.ndarray, los: np.ndarray, alive_obs: np.ndarray, alive_tgt: np.ndarray,
    sight2_obs: np.ndarray, concealed_tgt: np.ndarray,
) -> np.ndarray:
    """(B, n_tgt) bool: target seen by any live observer (pairs given as (B, n_obs, n_tgt))."""
    can = los & (d2 <= sight2_obs[None, :, None]) & alive_obs[:, :, None]
    can &= ~concealed_tgt[:, None, :] | (d2 <= CONCEAL_D2)
    return can.any(1) & alive_tgt


def choose_targets(
    act: np.ndarray, can_fire: np.ndarray, d2: np.ndarray, los: np.ndarray,
    tgt_alive_seen: np.ndarray, range2: np.ndarray, indirect: np.ndarray,
) -> np.ndarray:
    """Target slot per shooter (B, n_s), -1 for none; pairs (B, n_s, n_t) from the shooter's side."""
    engage = (d2 <= range2[None, :, None]) & (los | indirect[None, :, None])
    engage &= tgt_alive_seen[:, None, :]
    n_t = d2.shape[2]
    big = np.iinfo(np.int32).max
    nearest = np.where(engage, d2, big).argmin(-1)
    has_any = engage.any(-1)
    at = np.clip(act - A.FIRE_AT, 0, n_t - 1)
    at_ok = np.take_along_axis(engage, at[..., None], -1)[..., 0] & (act >= A.FIRE_AT)
    tgt = np.where((act == A.FIRE_NEAREST) & has_any, nearest, -1)
    tgt = np.where(at_ok, at, tgt)
    return np.where(can_fire, tgt, -1).astype(np.int32)


def resolve_moves(
    y: np.ndarray, x: np.ndarray, alive: np.ndarray, want: np.ndarray, ty: np.ndarray,
    tx: np.ndarray, w: int,
) -> np.ndarray:
    """Which of the wanted moves happen under the bounce rule: (B, U) bool."""
    cur = y.astype(np.int32) * w + x
    tgt_m = ty.astype(np.int32) * w + tx
    moving = want.copy()
    live_pair = alive[:, :, None] & alive[:, None, :]
    n = y.shape[1]
    np.einsum("bii->bi", live_pair)[...] = False  # a unit never conflicts with itself
    # swap: i moves into j's cell while j moves into i's cell
    swap = ((tgt_m[:, :, None] == cur[:, None, :]) & (tgt_m[:, None, :] == cur[:, :, None])
            & live_pair)
    for _ in range(n + 1):
        tgt = np.where(moving, tgt_m, cur)
        clash = ((tgt[:, :, None] == tgt[:, None, :]) & live_pair).any(-1)
        swapped = (swap & moving[:, :, None] & moving[:, None, :]).any(-1)
        bad = moving & (clash | swapped)
        if not bad.any():
            break
        moving &= ~bad
    return moving
