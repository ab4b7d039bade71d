"""One recorded episode as the JSON document the viewer page plays.

The page does no simulation: everything it draws comes from here. Per frame
(frame 0 is the state after reset, frame t the state after tick t):

- unit arrays, flat ``frame * U + slot``: ``x``, ``y``, ``hp``, ``alive``,
  ``vis`` (the opposing side sees the unit now), ``cov`` (taking cover),
  ``ammo``, ``act`` (the action that produced this frame, -1 at frame 0),
  and the shots of the tick that produced it: ``st`` (target slot, -1 none),
  ``sh`` (hit), ``sd`` (damage);
- world arrays: ``tick``, ``outcome``, ``ctrl`` (controller of each
  objective, flat ``frame * O + k``) and ``hold`` (``(frame * O + k) * 2 + side``);
- ``sight``: per side, the cells that side can see, one bit per cell in row
  order, packed (``numpy.packbits``) and base64-encoded frame after frame.
  A cell is seen when a live unit of the side has line of sight to it within
  its sight range (forest cells only from two cells away), the same rule the
  engine uses to spot units, so an enemy is visible exactly when it stands
  in a seen cell;
- ``policy``, where the replay recorded it: per unit slot, the action
  probabilities of the decision that produced each frame (basis points,
  ``-1`` where not recorded) and the value estimate (``null`` where not).

Shots of frame t were fired at the start of tick t, from the positions of
frame t - 1; the page draws them there.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from cgfsim.sim import actions as A
from cgfsim.sim.geometry import pair_tables
from cgfsim.sim.render import OBJECTIVE_RGB, SIDE_RGB, TERRAIN_RGB
from cgfsim.sim.replay import Replay
from cgfsim.sim.terrain import CHAR, CONCEAL_D2, CONCEALS, Terrain
from cgfsim.sim.units import SIGHT2, UNIT_TYPES
from cgfsim.viewer.aar import after_action, unit_tag

#: Version of the JSON document; the page refuses documents of another version.
PAYLOAD_VERSION = 1


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def _ints(a: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(a).astype(np.int64).ravel().tolist()]


def _numbers(a: np.ndarray, digits: int = 2) -> list[float] | list[int]:
    """Flat list of ints when every value is whole (the common case), else rounded floats."""
    a = np.asarray(a, np.float64).ravel()
    if np.all(a == np.round(a)):
        return _ints(a)
    return [float(v) for v in np.round(a, digits).tolist()]


def sight_cells(rep: Replay, w: int) -> np.ndarray:
    """(frames, 2, H*W) bool: the cells each side sees in each frame of track ``w``."""
    sc, tr = rep.scenario, rep.track(w)
    terrain = rep.data["terrain"][w]
    table = pair_tables(terrain[None])[0]  # (C, C) int16: d2 * 2 + line of sight
    cell = tr["y"].astype(np.int64) * sc.width + tr["x"].astype(np.int64)
    pair = table[cell]  # (T, U, C)
    d2 = pair >> 1
    live = (tr["alive"] & sc.present)[:, :, None]
    can = (pair & 1).astype(bool) & (d2 <= SIGHT2[rep.unit_type][None, :, None]) & live
    concealed = CONCEALS[terrain].ravel()
    can &= ~concealed[None, None, :] | (d2 <= CONCEAL_D2)
    side = rep.side_of_slot
    return np.stack([can[:, side == s].any(1) for s in (0, 1)], 1)


def _policy(rep: Replay, w: int) -> dict[str, Any] | None:
    """Recorded probabilities (basis points) and values per unit slot, or None."""
    tr = rep.track(w)
    probs, value = tr.get("probs"), tr.get("value")
    out: dict[str, Any] = {"probs": {}, "value": {}}
    for u in range(rep.scenario.n_units):
        if probs is not None and np.isfinite(probs[:, u]).any():
            p = probs[:, u]
            bp = np.where(np.isfinite(p), np.round(np.nan_to_num(p) * 10000), -1)
            out["probs"][str(u)] = _ints(bp)
        if value is not None and np.isfinite(value[:, u]).any():
            v = value[:, u].astype(np.float64)
            out["value"][str(u)] = [
                round(float(x), 4) if np.isfinite(x) else None for x in v.tolist()
            ]
    if not out["probs"] and not out["value"]:
        return None
    out["width"] = int(probs.shape[-1]) if probs is not None else 0
    return out


def track_payload(rep: Replay, w: int, label: str) -> dict[str, Any]:
    """Track ``w`` of ``rep`` as the viewer's JSON-safe document (see the module doc)."""
    sc, tr = rep.scenario, rep.track(w)
    nb, nr = sc.n_slots
    terrain = rep.data["terrain"][w]
    chars = np.array([CHAR[Terrain(i)] for i in range(len(Terrain))])
    n_obj = len(sc.objectives)
    sight = sight_cells(rep, w)
    frames = {
        "tick": _ints(tr["tick"]),
        "outcome": _ints(tr["outcome"]),
        "x": _ints(tr["x"]),
        "y": _ints(tr["y"]),
        "hp": _numbers(tr["hp"]),
        "alive": _ints(tr["alive"]),
        "vis": _ints(tr["visible"]),
        "cov": _ints(tr["covered"]),
        "ammo": _ints(tr["ammo"]),
        "act": _ints(tr["actions"]),
        "st": _ints(tr["shot_target"]),
        "sh": _ints(tr["shot_hit"]),
        "sd": _numbers(tr["shot_damage"]),
        "ctrl": _ints(tr["controller"]) if n_obj else [],
        "hold": _ints(tr["hold"]) if n_obj else [],
    }
    info = rep.tracks[w] if w < len(rep.tracks) else {}
    units = [
        {
            "slot": u,
            "side": int(rep.side_of_slot[u]),
            "tag": unit_tag(rep, u),
            "type": int(rep.unit_type[u]),
            "present": bool(sc.present[u]),
            "n_actions": A.n_actions(nr if u < nb else nb),
        }
        for u in range(sc.n_units)
    ]
    return {
        "label": label,
        "scenario": {
            "name": sc.name,
            "description": sc.description,
            "combat": rep.combat,
            "max_ticks": sc.max_ticks,
            "width": sc.width,
            "height": sc.height,
            "n_slots": [nb, nr],
            "terrain": ["".join(row) for row in chars[terrain].tolist()],
            "objectives": [
                {
                    "name": o.name,
                    "rect": list(o.rect),
                    "hold": o.hold_ticks,
                    "capturable": list(o.capturable_by),
                }
                for o in sc.objectives
            ],
        },
        "track": info,
        "meta": rep.meta,
        "units": units,
        "frames": frames,
        "sight": [
            base64.b64encode(np.packbits(sight[:, s], axis=1).tobytes()).decode("ascii")
            for s in (0, 1)
        ],
        "policy": _policy(rep, w),
        "aar": after_action(rep, w),
    }


def legend() -> dict[str, Any]:
    """What every document shares: colours, terrain and unit-type tables, action names."""
    return {
        "terrain": {
            CHAR[t]: {"name": t.name.lower(), "color": _hex(TERRAIN_RGB[t])} for t in Terrain
        },
        "sides": [
            {"name": "blue", "color": _hex(SIDE_RGB[0])},
            {"name": "red", "color": _hex(SIDE_RGB[1])},
        ],
        "objective_color": _hex(OBJECTIVE_RGB),
        "types": [
            {
                "name": t.name,
                "char": t.char,
                "hp": t.hp,
                "ammo": t.ammo,
                "sight": t.sight,
                "range": t.weapon_range,
                "speed": t.speed,
            }
            for t in UNIT_TYPES
        ],
        "actions": list(A.NAMES),
        "fire_at": A.FIRE_AT,
    }
