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
   behind it. Dead units occupy no cell. Only two-unit swaps are refused:
   a ring of three or more units each stepping into the next one's cell
   (e.g. four units turning around a 2x2 square) all move.
   Shots choose targets from the start-of-tick state and cover changes only
   after movement, so ``take_cover`` protects from the next tick on.
3. **Upkeep.** Reload timers count down and movement points regenerate.
"""

from __future__ import annotations

import numpy as np

from cgfsim.sim import actions as A
from cgfsim.sim.terrain import CONCEAL_D2


def pair_geometry(
    y: np.ndarray,
    x: np.ndarray,
    nb: int,
    w: int,
    n_cells: int,
    map_id: np.ndarray,
    pair_flat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Squared distance and line of sight for every (blue i, red j) pair: (B, nb, nr).

    ``pair_flat`` is the pool's packed (M, C, C) ``d2 * 2 + los`` table
    (:func:`cgfsim.sim.geometry.pair_tables`) flattened: one gather serves both.
    """
    cell = y.astype(np.int64) * w + x
    base = map_id.astype(np.int64)[:, None, None] * (n_cells * n_cells)
    v = pair_flat[base + cell[:, :nb, None] * n_cells + cell[:, None, nb:]]
    return v >> 1, (v & 1).astype(bool)


def seen_by(
    d2_t: np.ndarray,
    los_t: np.ndarray,
    alive_obs: np.ndarray,
    alive_tgt: np.ndarray,
    sight2_obs: np.ndarray,
    concealed_tgt: np.ndarray,
) -> np.ndarray:
    """(B, n_tgt) bool: target seen by any live observer.

    Pairs come target-major, (B, n_tgt, n_obs), so the reduction runs over the
    trailing axis (see :func:`any_last`).
    """
    b, n_tgt = d2_t.shape[:2]
    # flat (B, pairs) comparisons with the thresholds tiled: one inner loop per world, not
    # one per (world, target) over a few observers
    can = (d2_t.reshape(b, -1) <= np.tile(sight2_obs, n_tgt)).reshape(d2_t.shape)
    can &= los_t
    _and_rows(can, alive_obs[:, None, :])
    if concealed_tgt.any():  # most ticks nobody stands in forest: skip the extra pass
        can &= ~concealed_tgt[:, :, None] | (d2_t <= CONCEAL_D2)
    return any_last(can) & alive_tgt


def engagement(
    d2: np.ndarray,
    los: np.ndarray,
    tgt_seen: np.ndarray,
    range2: np.ndarray,
    indirect: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Who can engage whom this tick, shooter-major (B, n_s, n_t), and whether anyone at all.

    A target is engageable when its side sees it (fog of war), it is within
    weapon range and the shooter has its own line of sight, unless the
    shooter fires indirectly. Computed once per tick and shared by fire
    resolution, doctrines and action masks.
    """
    b, n_t = d2.shape[0], d2.shape[2]
    engage = (d2.reshape(b, -1) <= np.repeat(range2, n_t)).reshape(d2.shape)
    engage &= (los | indirect[None, :, None]) if indirect.any() else los
    _and_rows(engage, tgt_seen[:, None, :])
    return engage, any_last(engage)


def _and_rows(a: np.ndarray, rows: np.ndarray) -> None:
    """``a &= rows`` for bool ``a`` (B, n, m) and ``rows`` (B, 1, m).

    With m a multiple of 8, both as 64-bit words: 8 pairs per operation, and one inner
    loop per world instead of one per row of 8 (the same bits).
    """
    m = a.shape[-1]
    if m % 8 == 0 and a.flags.c_contiguous:
        a.view(np.uint64)[...] &= np.ascontiguousarray(rows).view(np.uint64)
    else:
        a &= rows


def choose_targets(
    act: np.ndarray,
    can_fire: np.ndarray,
    engage: np.ndarray,
    d2: np.ndarray,
    has_target: np.ndarray,
) -> np.ndarray:
    """Target slot per shooter (B, n_s), -1 for none, from the tick's engagement table.

    fire_nearest takes the engageable target at the smallest squared
    distance, the lower slot on ties; it is searched only for the shooters
    that asked for it.
    """
    n_t = engage.shape[2]
    tgt = np.full(act.shape, -1, np.int32)
    flat_eng = engage.reshape(-1)
    fa = np.flatnonzero((act >= A.FIRE_AT) & can_fire)
    if fa.size:
        j = act.ravel()[fa] - A.FIRE_AT
        ok = flat_eng[fa * n_t + j]
        tgt.ravel()[fa[ok]] = j[ok]
    fn = np.flatnonzero((act == A.FIRE_NEAREST) & has_target & can_fire)
    if fn.size:
        big = np.iinfo(np.int16).max
        rows = d2.reshape(-1, n_t)[fn]
        tgt.ravel()[fn] = np.where(engage.reshape(-1, n_t)[fn], rows, big).argmin(-1)
    return tgt


def any_last(a: np.ndarray) -> np.ndarray:
    """``a.any(-1)`` for bool arrays, fast when the last axis is a multiple of 8.

    numpy's reduction over a short trailing axis is slow; viewing 8 bools as
    one uint64 turns it into a handful of word comparisons.
    """
    n = a.shape[-1]
    if n % 8 == 0 and a.dtype == np.bool_:
        v = np.ascontiguousarray(a).view(np.uint64)
        if n == 8:
            return np.asarray(v[..., 0] != 0)
        return np.asarray(np.bitwise_or.reduce(v, axis=-1) != 0)
    return np.asarray(a.any(-1))


def resolve_moves(
    y: np.ndarray,
    x: np.ndarray,
    alive: np.ndarray,
    want: np.ndarray,
    ty: np.ndarray,
    tx: np.ndarray,
    w: int,
    n_cells: int,
    occ: np.ndarray,
    claim: np.ndarray,
) -> np.ndarray:
    """Which of the wanted moves happen under the bounce rule: (B, U) bool.

    ``occ`` and ``claim`` are scratch grids of B * n_cells + 1 int16 filled with -1
    (returned that way): who stands on each cell at the start of the move
    phase, and who claims it. Lookups in them replace (B, U, U) pairwise
    comparisons. Claims are settled once (all claimants of a contested cell
    and both units of a swap bounce); then moves into cells whose occupant
    stays are cancelled until nothing changes, so a bounced unit blocks the
    one behind it.
    """
    b, n = y.shape
    mov = want.ravel().copy()
    fm = np.flatnonzero(mov)  # movers, flat (world * n + slot)
    if fm.size == 0:
        return mov.reshape(b, n)
    base = np.repeat(np.arange(b, dtype=np.int64) * n_cells, n)
    cur = base + y.ravel().astype(np.int64) * w + x.ravel()
    dummy = occ.size - 1  # dead units all "stand" on a dummy cell past the grid
    cur_live = np.where(alive.ravel(), cur, dummy)
    slot = np.tile(np.arange(n, dtype=np.int16), b)
    occ[cur_live] = slot
    occ[dummy] = -1
    t = base[fm] + ty.ravel()[fm].astype(np.int64) * w + tx.ravel()[fm]
    mi = slot[fm]
    # Contested cells: scatter claims, read back; any mismatch means several claimants.
    claim[t] = mi
    lost = claim[t] != mi
    claim[t[lost]] = -2
    contested = claim[t] == -2
    claim[t] = -1
    j = occ[t].astype(np.int64)  # unit standing on my target at the start, -1 if none
    occ[cur_live] = -1
    has_j = j >= 0
    fj = fm - mi + np.where(has_j, j, 0)  # flat index of that unit
    tgt_all = np.full(b * n, -1, np.int64)
    tgt_all[fm] = t
    swap = has_j & mov[fj] & (tgt_all[fj] == cur[fm])
    bad = contested | swap
    mov[fm[bad]] = False
    # Moves into a cell whose occupant stays fail, repeatedly (a bounce blocks the unit behind).
    cand = np.flatnonzero(~bad & has_j)
    while cand.size:
        blocked = ~mov[fj[cand]]
        if not blocked.any():
            break
        mov[fm[cand[blocked]]] = False
        cand = cand[~blocked]
    return mov.reshape(b, n)
