"""Seeded random maps, generated once per scenario as a pool episodes draw from.

Each terrain layer is smoothed uniform noise thresholded at the quantile that
gives its density, so features come in blobs (woods, lakes, built-up areas)
rather than salt-and-pepper. Zones (start zones and objectives) are cleared
to open ground, and a map is redrawn until every zone is reachable from
every other, so no episode starts with a side cut off.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cgfsim.sim.errors import ScenarioError
from cgfsim.sim.geometry import MAX_TABLE_BYTES, table_bytes
from cgfsim.sim.terrain import PASSABLE, Terrain

DENSITY_KEYS = ("obstacle", "forest", "water", "rough", "road")
_TERRAIN = {
    "obstacle": Terrain.OBSTACLE,
    "forest": Terrain.FOREST,
    "water": Terrain.WATER,
    "rough": Terrain.ROUGH,
    "road": Terrain.ROAD,
}
MAX_ATTEMPTS = 200


def validate_config(cfg: dict[str, Any], src: str) -> np.ndarray:
    """Check a ``[map.random]`` table; returns an all-open placeholder of its shape."""
    allowed = {"width", "height", "pool", "seed", *DENSITY_KEYS}
    for k, v in cfg.items():
        if k not in allowed:
            raise ScenarioError(
                f"{src}: map.random.{k}: unknown field; expected one of "
                + ", ".join(sorted(allowed))
            )
        if k in DENSITY_KEYS:
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < 0.6:
                raise ScenarioError(
                    f"{src}: map.random.{k}: expected a density in [0, 0.6), got {v!r}"
                )
        elif not isinstance(v, int) or isinstance(v, bool):
            raise ScenarioError(f"{src}: map.random.{k}: expected an integer, got {v!r}")
    for k in ("width", "height"):
        if k not in cfg:
            raise ScenarioError(f"{src}: map.random.{k}: missing (required field)")
        if not 4 <= cfg[k] <= 48:
            raise ScenarioError(f"{src}: map.random.{k}: expected 4..48, got {cfg[k]}")
    if not 0 <= cfg.get("seed", 0) < 2**63:
        raise ScenarioError(
            f"{src}: map.random.seed: expected an integer in 0..2**63-1, got {cfg['seed']}"
        )
    if not 1 <= cfg.get("pool", 16) <= 1024:
        raise ScenarioError(f"{src}: map.random.pool: expected 1..1024, got {cfg['pool']}")
    need = table_bytes(cfg["height"], cfg["width"], cfg.get("pool", 16))
    if need > MAX_TABLE_BYTES:
        raise ScenarioError(
            f"{src}: map.random: a pool of {cfg.get('pool', 16)} maps of "
            f"{cfg['width']}x{cfg['height']} needs {need / 1e9:.1f} GB of sight and path tables; "
            f"the limit is {MAX_TABLE_BYTES / 1e9:.1f} GB (CGFSIM_MAX_TABLE_BYTES): "
            "use a smaller pool or map"
        )
    if sum(float(cfg.get(k, 0.0)) for k in DENSITY_KEYS if k != "road") > 0.6:
        raise ScenarioError(
            f"{src}: map.random: obstacle + forest + water + rough densities "
            "must add up to at most 0.6"
        )
    return np.zeros((1, cfg["height"], cfg["width"]), dtype=np.uint8)


def _smooth(x: np.ndarray, passes: int = 2) -> np.ndarray:
    for _ in range(passes):
        p = np.pad(x, 1, mode="edge")
        acc = np.zeros_like(x)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                acc += p[1 + dy : 1 + dy + x.shape[0], 1 + dx : 1 + dx + x.shape[1]]
        x = acc / 9.0
    return x


def reachable(passable: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Cells 4-connected to ``start`` through passable cells (flood fill by dilation)."""
    cur = start & passable
    while True:
        nxt = cur.copy()
        nxt[1:] |= cur[:-1]
        nxt[:-1] |= cur[1:]
        nxt[:, 1:] |= cur[:, :-1]
        nxt[:, :-1] |= cur[:, 1:]
        nxt &= passable
        if (nxt == cur).all():
            return cur
        cur = nxt


def generate_pool(
    h: int, w: int, cfg: dict[str, Any], clear: list[tuple[int, int, int, int]], src: str
) -> np.ndarray:
    """``pool`` maps of shape (h, w) from ``seed``; the same config always gives the same pool."""
    rng = np.random.default_rng(int(cfg.get("seed", 0)))
    pool = int(cfg.get("pool", 16))
    out = np.zeros((pool, h, w), dtype=np.uint8)
    for m in range(pool):
        for _attempt in range(MAX_ATTEMPTS):
            grid = np.full((h, w), Terrain.OPEN, dtype=np.uint8)
            for k in DENSITY_KEYS:
                dens = float(cfg.get(k, 0.0))
                if dens <= 0:
                    continue
                if k == "road":
                    _draw_roads(grid, rng, dens)
                    continue
                noise = _smooth(rng.random((h, w)))
                thr = np.quantile(noise, 1.0 - dens)
                grid[(noise > thr) & (grid == Terrain.OPEN)] = _TERRAIN[k]
            for x0, y0, x1, y1 in clear:
                grid[y0 : y1 + 1, x0 : x1 + 1] = Terrain.OPEN
            if _zones_connected(grid, clear):
                out[m] = grid
                break
        else:
            raise ScenarioError(
                f"{src}: map.random: could not draw a map whose zones are "
                f"connected in {MAX_ATTEMPTS} attempts; lower the densities"
            )
    return out


def _draw_roads(grid: np.ndarray, rng: np.random.Generator, dens: float) -> None:
    h, w = grid.shape
    n = max(1, round(dens * (h + w) / 2))
    for _ in range(n):
        if rng.random() < 0.5:
            grid[rng.integers(h), :] = Terrain.ROAD
        else:
            grid[:, rng.integers(w)] = Terrain.ROAD


def _zones_connected(grid: np.ndarray, zones: list[tuple[int, int, int, int]]) -> bool:
    if len(zones) < 2:
        return True
    passable = PASSABLE[grid]
    masks = []
    for x0, y0, x1, y1 in zones:
        m = np.zeros_like(passable)
        m[y0 : y1 + 1, x0 : x1 + 1] = True
        masks.append(m)
    reach = reachable(passable, masks[0])
    return all((reach & m).any() for m in masks[1:])
