"""Per-map precomputed tables: line of sight and path distance between every pair of cells.

Built once per distinct map (and cached by the map's bytes), so a tick's line
of sight for every unit pair is one gather instead of a ray march, and doctrine
path-finding is one gather per neighbour. For a 24x24 map each table is
576 x 576 (331k entries); a 48x48 map's pair and path tables take 21 MB.

The cache is bounded: least recently used tables beyond
:data:`CACHE_BYTES` (``CGFSIM_TABLE_CACHE_BYTES``, default 1 GiB) are dropped
(an engine keeps its own reference, so only tables no engine uses are freed).
Scenarios whose tables could not fit are refused at load time
(:func:`table_bytes`, :data:`MAX_TABLE_BYTES`).

Line of sight between two cells is clear when no cell strictly between them
blocks sight (obstacle or forest). The cells between are those whose centres
are nearest to 2*max(|dr|, |dc|) evenly spaced points on the segment between
the two cell centres; the result is made symmetric by requiring the ray to be
clear in both directions. Pairs further apart than the longest sight or
weapon range of any unit type (:data:`cgfsim.sim.units.MAX_RANGE`) are marked
not visible: no unit could use them anyway.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from cgfsim.sim.terrain import BLOCKS_SIGHT, PASSABLE
from cgfsim.sim.units import MAX_RANGE

UNREACHABLE = np.int16(32767)


def _env_bytes(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return max(0, int(float(raw))) if raw.strip() else default
    except ValueError:
        return default


#: Bytes of tables the process-wide cache keeps beyond those in use.
CACHE_BYTES = _env_bytes("CGFSIM_TABLE_CACHE_BYTES", 1 << 30)
#: Largest total size of one scenario's tables (pair + path, all maps of its pool).
MAX_TABLE_BYTES = _env_bytes("CGFSIM_MAX_TABLE_BYTES", 4 << 30)
_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()


def table_bytes(height: int, width: int, n_maps: int = 1) -> int:
    """Bytes of the pair and path tables (int16, cells x cells each) of ``n_maps`` maps."""
    cells = height * width
    return 2 * 2 * cells * cells * n_maps


def _cached(kind: str, maps: np.ndarray, build: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    key = (
        kind,
        hashlib.blake2b(maps.tobytes() + str(maps.shape).encode(), digest_size=16).hexdigest(),
    )
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    out = np.stack([build(m) for m in maps])
    out.setflags(write=False)
    _cache[key] = out
    total = sum(a.nbytes for a in _cache.values())
    while total > CACHE_BYTES and len(_cache) > 1:
        _, dropped = _cache.popitem(last=False)
        total -= dropped.nbytes
    return out


def cache_bytes() -> int:
    """Bytes the table cache holds now."""
    return sum(a.nbytes for a in _cache.values())


def _ray_offsets(radius: int) -> list[tuple[int, int, np.ndarray]]:
    """(dr, dc, intermediate relative cells (k, 2)) for every offset within ``radius``."""
    out = []
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            if dr * dr + dc * dc > radius * radius or (dr == 0 and dc == 0):
                continue
            n = 2 * max(abs(dr), abs(dc))
            t = np.arange(1, n) / n
            cells = np.floor(np.stack([t * dr, t * dc], 1) + 0.5).astype(np.int64)
            keep = ~(
                ((cells[:, 0] == 0) & (cells[:, 1] == 0))
                | ((cells[:, 0] == dr) & (cells[:, 1] == dc))
            )
            out.append((dr, dc, np.unique(cells[keep], axis=0)))
    return out


_OFFSETS = _ray_offsets(MAX_RANGE)


def los_table_one(grid: np.ndarray) -> np.ndarray:
    h, w = grid.shape
    c = h * w
    block = BLOCKS_SIGHT[grid]
    los = np.zeros((c, c), dtype=bool)
    rr, cc = np.mgrid[0:h, 0:w]
    for dr, dc, mid in _OFFSETS:
        tr, tc = rr + dr, cc + dc
        ok = (tr >= 0) & (tr < h) & (tc >= 0) & (tc < w)
        if not ok.any():
            continue
        sr, sc = rr[ok], cc[ok]
        clear = np.ones(sr.shape, dtype=bool)
        for mr, mc in mid:
            clear &= ~block[sr + mr, sc + mc]
        los[sr * w + sc, (sr + dr) * w + (sc + dc)] = clear
    los &= los.T
    np.fill_diagonal(los, True)
    return los


def path_table_one(grid: np.ndarray) -> np.ndarray:
    """All-pairs 4-connected path length through passable cells (int16, UNREACHABLE if none)."""
    h, w = grid.shape
    c = h * w
    passable = PASSABLE[grid]
    dist = np.full((c, h, w), UNREACHABLE, dtype=np.int16)
    frontier = np.eye(c, dtype=bool).reshape(c, h, w) & passable[None]
    seen = frontier.copy()
    d = 0
    while frontier.any():
        dist[frontier] = d
        nxt = np.zeros_like(frontier)
        nxt[:, 1:] |= frontier[:, :-1]
        nxt[:, :-1] |= frontier[:, 1:]
        nxt[:, :, 1:] |= frontier[:, :, :-1]
        nxt[:, :, :-1] |= frontier[:, :, 1:]
        nxt &= passable[None] & ~seen
        seen |= nxt
        frontier = nxt
        d += 1
    return dist.reshape(c, c)


def los_tables(maps: np.ndarray) -> np.ndarray:
    """(M, C, C) bool line-of-sight tables for a pool of maps."""
    return _cached("los", maps, los_table_one)


def pair_table_one(grid: np.ndarray) -> np.ndarray:
    """(C, C) int16 ``d2 * 2 + los``: squared distance and line of sight in one gather."""
    h, w = grid.shape
    rr, cc = np.divmod(np.arange(h * w), w)
    d2 = (rr[:, None] - rr[None, :]) ** 2 + (cc[:, None] - cc[None, :]) ** 2
    return (d2 * 2 + los_table_one(grid)).astype(np.int16)


def pair_tables(maps: np.ndarray) -> np.ndarray:
    """(M, C, C) int16 packed distance/sight tables, the engine's per-tick lookup."""
    return _cached("pair", maps, pair_table_one)


def path_tables(maps: np.ndarray) -> np.ndarray:
    """(M, C, C) int16 path distances; built lazily (doctrines use it)."""
    return _cached("path", maps, path_table_one)
