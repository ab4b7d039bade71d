"""Rendering one world as text (ANSI) or as an RGB image, from the engine or from a replay.

Both renderers are built on array-level functions (:func:`render_ansi_arrays`,
:func:`render_rgb_arrays`, :func:`status_line`) that take one world's arrays,
so a live :class:`~cgfsim.sim.engine.Engine` and a recorded
:class:`~cgfsim.sim.replay.Replay` draw identical frames from identical state.

Text: one character per cell (terrain as in :data:`cgfsim.sim.terrain.CHAR`),
units as their type letter (:data:`cgfsim.sim.units.UNIT_TYPES`), upper case
blue and lower case red. With colour, dead units show as a dim ``x`` and
objective cells are underlined. A status line follows the map.

RGB: terrain colours, objective zones outlined in gold, blue units as squares
and red units as circles (so sides differ without colour too), each with its
type's NATO-style mark (infantry ``X``, armour oval, recon ``/``, artillery
dot) and an hp bar along the bottom.

Fog of war (``side=0|1``): enemies are drawn only while that side sees them
(``visible``); own units and dead units (every kill happens in sight) always.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cgfsim.sim.terrain import CHAR, N_TERRAIN, Terrain
from cgfsim.sim.units import HP, UNIT_TYPES

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine
    from cgfsim.sim.scenario import Objective

SIDE_NAMES = ("blue", "red")
#: Outcome code -> text (codes as in :mod:`cgfsim.sim.engine`).
OUTCOME_TEXT = ("running", "blue won", "red won", "draw")
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive

# ----------------------------------------------------------------------------- text

_TERRAIN_CHARS = np.array([CHAR[Terrain(i)] for i in range(N_TERRAIN)])
_TYPE_UPPER = np.array([t.char.upper() for t in UNIT_TYPES])
_TYPE_LOWER = np.array([t.char.lower() for t in UNIT_TYPES])
# SGR codes: open dim grey, obstacle grey, forest green, water cyan, road yellow, rough magenta.
_TERRAIN_SGR = np.array(["90", "37", "32", "36", "33", "35"])
_SIDE_SGR = ("1;94", "1;91")
_DEAD_SGR = "2;90"
_OBJ_SGR = ";4"
_RESET = "\x1b[0m"


def _shown(
    alive: np.ndarray,
    present: np.ndarray,
    side_of_slot: np.ndarray,
    visible: np.ndarray | None,
    side: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(live slots to draw, dead slots to mark) under the chosen point of view."""
    live = alive & present
    if side is not None:
        if side not in (0, 1):
            raise ValueError(f"side must be 0 (blue), 1 (red) or None, got {side!r}")
        if visible is None:
            raise ValueError("fog-of-war rendering (side=0|1) needs the visible array")
        live = live & ((side_of_slot == side) | visible)
    return live, present & ~alive


def render_ansi_arrays(
    terrain: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    alive: np.ndarray,
    unit_type: np.ndarray,
    side_of_slot: np.ndarray,
    *,
    present: np.ndarray | None = None,
    visible: np.ndarray | None = None,
    side: int | None = None,
    color: bool = True,
    objectives: Sequence[Rect] = (),
    status: str | None = None,
) -> str:
    """One world's map as text: (H, W) terrain codes plus per-slot unit arrays (U,)."""
    present = np.ones(alive.shape, bool) if present is None else present
    live, dead = _shown(alive, present, side_of_slot, visible, side)
    chars = _TERRAIN_CHARS[terrain]
    t = unit_type.astype(np.int64)
    letters = np.where(side_of_slot == 0, _TYPE_UPPER[t], _TYPE_LOWER[t])
    if color:
        codes = _TERRAIN_SGR[terrain].astype(object)
        d = np.flatnonzero(dead)
        chars[y[d], x[d]] = "x"
        codes[y[d], x[d]] = _DEAD_SGR
    u = np.flatnonzero(live)
    chars[y[u], x[u]] = letters[u]
    if not color:
        lines = ["".join(row) for row in chars.tolist()]
    else:
        for s in (0, 1):
            us = u[side_of_slot[u] == s]
            codes[y[us], x[us]] = _SIDE_SGR[s]
        for x0, y0, x1, y1 in objectives:
            codes[y0 : y1 + 1, x0 : x1 + 1] += _OBJ_SGR
        lines = []
        for crow, srow in zip(chars.tolist(), codes.tolist(), strict=True):
            parts, prev = [], None
            for ch, code in zip(crow, srow, strict=True):
                if code != prev:
                    parts.append(f"\x1b[0;{code}m")
                    prev = code
                parts.append(ch)
            lines.append("".join(parts) + _RESET)
    if status is not None:
        lines.append(status)
    return "\n".join(lines)


def status_line(
    tick: int,
    max_ticks: int,
    outcome: int,
    alive: np.ndarray,
    present: np.ndarray,
    side_of_slot: np.ndarray,
    controller: np.ndarray,
    hold: np.ndarray,
    objectives: Sequence[Objective] = (),
    side: int | None = None,
) -> str:
    """``tick 12/60 | running | blue 2/2 | red 1/2 | centre: blue 3/10`` (+ the point of view)."""
    parts = [f"tick {int(tick)}/{max_ticks}", OUTCOME_TEXT[int(outcome)]]
    for s, name in enumerate(SIDE_NAMES):
        mine = present & (side_of_slot == s)
        parts.append(f"{name} {int((alive & mine).sum())}/{int(mine.sum())}")
    for k, obj in enumerate(objectives):
        c = int(controller[k])
        held = f"{SIDE_NAMES[c]} {int(hold[k, c])}/{obj.hold_ticks}" if c >= 0 else "none"
        parts.append(f"{obj.name}: {held}")
    if side is not None:
        parts.append(f"view: {SIDE_NAMES[side]}")
    return " | ".join(parts)


def render_ansi(engine: Engine, world: int = 0, color: bool = True, side: int | None = None) -> str:
    """The world's map and status line as text; ``side`` renders that side's fog of war."""
    e, w = engine, world
    sc = e.scenario
    status = status_line(
        int(e.tick[w]),
        sc.max_ticks,
        int(e.outcome[w]),
        e.alive[w],
        sc.present,
        e.side,
        e.controller[w],
        e.hold[w],
        sc.objectives,
        side,
    )
    return render_ansi_arrays(
        e.terrain(w),
        e.y[w],
        e.x[w],
        e.alive[w],
        e.utype,
        e.side,
        present=sc.present,
        visible=e.visible[w],
        side=side,
        color=color,
        objectives=[o.rect for o in sc.objectives],
        status=status,
    )


# ----------------------------------------------------------------------------- RGB

TERRAIN_RGB = np.array(
    [
        [214, 205, 170],  # open
        [85, 85, 90],  # obstacle
        [56, 118, 58],  # forest
        [96, 170, 225],  # water
        [160, 150, 132],  # road
        [176, 150, 104],  # rough
    ],
    dtype=np.uint8,
)
SIDE_RGB = np.array([[30, 70, 225], [215, 35, 35]], dtype=np.uint8)
MARK_RGB = np.array([255, 255, 255], dtype=np.uint8)
DEAD_RGB = np.array([50, 50, 50], dtype=np.uint8)
OBJECTIVE_RGB = np.array([255, 200, 0], dtype=np.uint8)
HP_RGB = np.array([40, 210, 60], dtype=np.uint8)
HP_BACK_RGB = np.array([45, 20, 20], dtype=np.uint8)
MIN_CELL_PX = 4


@lru_cache(maxsize=16)
def _masks(p: int) -> dict[str, np.ndarray]:
    """Per-cell (p, p) pixel masks for unit bodies, type marks, dead marks and the hp bar."""
    yy, xx = np.mgrid[0:p, 0:p].astype(np.float64)
    c = (p - 1) / 2.0
    dy, dx = yy - c, xx - c
    m = max(1, p // 8)
    inner = (yy >= m) & (yy < p - m) & (xx >= m) & (xx < p - m)
    core = (np.abs(dy) <= p * 0.24) & (np.abs(dx) <= p * 0.24)
    bar = max(1, p // 6)
    line = 0.5 + p / 40
    out = {
        "square": inner,
        "circle": dy**2 + dx**2 <= (p / 2.0 - m + 0.25) ** 2,
        # NATO-style marks: infantry X, armour oval, recon slash, artillery dot.
        "mark0": core & (np.abs(np.abs(dy) - np.abs(dx)) < line),
        "mark1": np.abs((dx / (p * 0.26)) ** 2 + (dy / (p * 0.15)) ** 2 - 1.0) < 0.45,
        "mark2": core & (np.abs(dy + dx) < line),
        "mark3": dy**2 + dx**2 <= (p * 0.13) ** 2 + 0.5,
        "dead": inner & (np.abs(np.abs(dy) - np.abs(dx)) < line),
        "bar_rows": np.zeros(p, bool),
    }
    out["bar_rows"][p - m - bar : p - m] = True
    out["bar_cols"] = np.arange(p)[m : p - m]
    return out


def render_rgb_arrays(
    terrain: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    alive: np.ndarray,
    unit_type: np.ndarray,
    side_of_slot: np.ndarray,
    *,
    hp_frac: np.ndarray | None = None,
    present: np.ndarray | None = None,
    visible: np.ndarray | None = None,
    side: int | None = None,
    objectives: Sequence[Rect] = (),
    cell_px: int = 12,
) -> np.ndarray:
    """One world as a uint8 image (H*cell_px, W*cell_px, 3); loops only over units."""
    if cell_px < MIN_CELL_PX:
        raise ValueError(f"cell_px must be >= {MIN_CELL_PX}, got {cell_px}")
    p = cell_px
    present = np.ones(alive.shape, bool) if present is None else present
    live, dead = _shown(alive, present, side_of_slot, visible, side)
    img = np.repeat(np.repeat(TERRAIN_RGB[terrain], p, 0), p, 1)
    # faint grid: darken each cell's last row and column
    img[p - 1 :: p] = (img[p - 1 :: p] * 0.85).astype(np.uint8)
    img[:, p - 1 :: p] = (img[:, p - 1 :: p] * 0.85).astype(np.uint8)
    t = max(1, p // 8)
    for x0, y0, x1, y1 in objectives:
        top, bot, left, right = y0 * p, (y1 + 1) * p, x0 * p, (x1 + 1) * p
        img[top : top + t, left:right] = OBJECTIVE_RGB
        img[bot - t : bot, left:right] = OBJECTIVE_RGB
        img[top:bot, left : left + t] = OBJECTIVE_RGB
        img[top:bot, right - t : right] = OBJECTIVE_RGB
    mk = _masks(p)
    for u in np.flatnonzero(dead):
        img[y[u] * p : (y[u] + 1) * p, x[u] * p : (x[u] + 1) * p][mk["dead"]] = DEAD_RGB
    cols = mk["bar_cols"]
    for u in np.flatnonzero(live):
        cell = img[y[u] * p : (y[u] + 1) * p, x[u] * p : (x[u] + 1) * p]
        s = int(side_of_slot[u])
        cell[mk["circle" if s else "square"]] = SIDE_RGB[s]
        cell[mk[f"mark{int(unit_type[u])}"]] = MARK_RGB
        if hp_frac is not None:
            n = int(np.ceil(np.clip(hp_frac[u], 0.0, 1.0) * cols.size))
            rows = mk["bar_rows"]
            cell[rows, cols[0] : cols[-1] + 1] = HP_BACK_RGB
            cell[rows, cols[0] : cols[0] + n] = HP_RGB
    return img


def render_rgb(
    engine: Engine, world: int = 0, cell_px: int = 12, side: int | None = None
) -> np.ndarray:
    """The world as a uint8 RGB image (H*cell_px, W*cell_px, 3)."""
    e, w = engine, world
    return render_rgb_arrays(
        e.terrain(w),
        e.y[w],
        e.x[w],
        e.alive[w],
        e.utype,
        e.side,
        hp_frac=e.hp[w] / HP[e.utype],
        present=e.scenario.present,
        visible=e.visible[w],
        side=side,
        objectives=[o.rect for o in e.scenario.objectives],
        cell_px=cell_px,
    )


# ----------------------------------------------------------------------------- GIF

# 3x5 glyphs for the status strip under GIF frames (one string of 15 bits per glyph).
_GLYPHS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
    "T": "111010010010010",
    "B": "110101110101110",
    "R": "110101110101101",
    " ": "000000000000000",
    "/": "001001010100100",
}


def status_strip(
    width_px: int, tick: int, alive_per_side: tuple[int, int], scale: int = 2
) -> np.ndarray:
    """A dark (7*scale, width_px, 3) strip reading ``T<tick> B<n> R<n>`` in small pixel type.

    It also keeps consecutive GIF frames distinct (Pillow merges identical frames).
    """
    strip = np.full((7 * scale, width_px, 3), 24, np.uint8)
    runs = [
        (f"T{tick}", MARK_RGB),
        (f" B{alive_per_side[0]}", SIDE_RGB[0] + 60),
        (f" R{alive_per_side[1]}", np.minimum(SIDE_RGB[1].astype(int) + 40, 255)),
    ]
    col = scale
    for text, rgb in runs:
        for ch in text:
            g = np.array([int(b) for b in _GLYPHS[ch]], bool).reshape(5, 3)
            g = np.repeat(np.repeat(g, scale, 0), scale, 1)
            end = min(col + g.shape[1], width_px)
            if end <= col:
                return strip
            strip[scale : scale + g.shape[0], col:end][g[:, : end - col]] = rgb
            col += 4 * scale
    return strip


def write_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 8.0) -> None:
    """Write RGB frames as a looping GIF, atomically (temp file in the same dir + rename)."""
    from PIL import Image  # lazy: Pillow is only needed for GIFs

    if not frames:
        raise ValueError("no frames to write")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = Path(path)
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            images[0].save(
                fh,
                format="GIF",
                save_all=True,
                append_images=images[1:],
                duration=max(1, round(1000 / fps)),
                loop=0,
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
