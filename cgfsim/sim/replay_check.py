"""Checks of replay files before and after loading: sizes first, then every value.

A replay is an ``.npz`` (a zip of ``.npy`` arrays) that may come from anyone.
:func:`check_sizes` reads only the zip directory and three small members (the
header, the offsets and the embedded scenario) and refuses any member whose
uncompressed size exceeds what those dimensions allow, so a 3 MB file cannot
decompress to gigabytes. :func:`check_values` then checks every recorded value
against the embedded scenario (positions on the map, slots that exist, finite
hit points within the unit's maximum, known codes), so a loaded replay renders
what could have happened, or is refused with the field named.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cgfsim.sim import actions as A
from cgfsim.sim.units import HP

if TYPE_CHECKING:
    from cgfsim.sim.replay import Replay

#: Bytes of an .npy member beyond its data (magic, header dict, padding).
NPY_OVERHEAD = 4096
#: Caps on the small members read before the sizes are known.
SMALL = {"header.npy": 16 << 20, "offsets.npy": 64 << 20, "scenario_text.npy": 1 << 20}
MAX_FRAMES = 50_000_000


def _read_member(zf: zipfile.ZipFile, name: str, cap: int) -> np.ndarray:
    info = zf.getinfo(name)
    if info.file_size > cap:
        raise ValueError(f"{name[:-4]} is {info.file_size:,} bytes uncompressed (at most {cap:,})")
    with zf.open(info) as f:
        return np.load(io.BytesIO(f.read(cap + 1)), allow_pickle=False)


def check_sizes(path: Path, scenario_dims: Any) -> None:
    """Raise ValueError if a member of the replay at ``path`` would decompress to more
    bytes than the header's dimensions allow.

    ``scenario_dims(text) -> (units, objectives, height, width, policy_width)`` reads the
    embedded scenario (passed in so this module needs no loader).
    """
    with zipfile.ZipFile(path) as zf:
        names = {i.filename: i for i in zf.infolist()}
        for name in SMALL:
            if name not in names:
                return  # not a replay at all: the loader reports what is missing
        header = json.loads(str(_read_member(zf, "header.npy", SMALL["header.npy"])))
        off = _read_member(zf, "offsets.npy", SMALL["offsets.npy"])
        text = _read_member(zf, "scenario_text.npy", SMALL["scenario_text.npy"])
        if not isinstance(header, dict) or off.ndim != 1 or off.size < 2:
            return  # malformed: the loader names it
        frames = int(off[-1]) if np.issubdtype(off.dtype, np.integer) else -1
        if not 0 <= frames <= MAX_FRAMES:
            raise ValueError(f"offsets claim {frames} frames (at most {MAX_FRAMES:,})")
        units, objectives, h, w, width = scenario_dims(
            text.astype(np.uint8).tobytes().decode("utf-8")
        )
        tracks = off.size - 1
        per_frame = {  # largest element counts per frame (8-byte dtypes at most)
            "terrain": 0,
            "controller": objectives,
            "hold": 2 * objectives,
            "probs": units * width,
        }
        for name, info in names.items():
            field = name[:-4] if name.endswith(".npy") else name
            if field in SMALL or name in SMALL:
                continue
            if field == "terrain":
                elements = tracks * h * w
            elif field in ("scenario_source", "combat"):
                elements = 4096
            else:
                elements = frames * per_frame.get(field, units) + frames
            allowed = 8 * elements + NPY_OVERHEAD
            if info.file_size > allowed:
                raise ValueError(
                    f"{field} decompresses to {info.file_size:,} bytes, more than the header's "
                    f"{frames} frames of {units} units allow ({allowed:,})"
                )


def _check(ok: np.ndarray | bool, what: str) -> None:
    if not bool(np.all(ok)):
        raise ValueError(what)


def check_values(rp: Replay) -> None:
    """Raise ValueError naming the first field whose recorded values are impossible."""
    sc, d = rp.scenario, rp.data
    H, W, U, K = sc.height, sc.width, sc.n_units, len(sc.objectives)
    nb, nr = sc.n_slots
    _check((d["y"] >= 0) & (d["y"] < H), f"y holds rows outside the map (0..{H - 1})")
    _check((d["x"] >= 0) & (d["x"] < W), f"x holds columns outside the map (0..{W - 1})")
    max_hp = HP[sc.unit_type.astype(np.int64)][None, :]
    _check(np.isfinite(d["hp"]), "hp holds NaN or infinite values")
    _check((d["hp"] >= 0) & (d["hp"] <= max_hp), "hp outside 0..the unit's maximum")
    _check(~(d["alive"] & ~sc.present[None, :]), "alive marks a slot that holds no unit")
    _check((d["shot_target"] >= -1) & (d["shot_target"] < U), f"shot_target outside -1..{U - 1}")
    side_of = np.r_[np.zeros(nb, bool), np.ones(nr, bool)]
    tgt = d["shot_target"]
    shooter_side = np.broadcast_to(side_of[None, :], tgt.shape)
    target_side = side_of[np.clip(tgt, 0, U - 1)]
    _check((tgt < 0) | (shooter_side != target_side), "shot_target names a unit of its own side")
    _check(np.isfinite(d["shot_damage"]) & (d["shot_damage"] >= 0), "shot_damage is not >= 0")
    n_act = np.where(side_of, A.n_actions(nb), A.n_actions(nr))[None, :]
    _check((d["actions"] >= -1) & (d["actions"] < n_act), "actions outside the action table")
    _check((d["tick"] >= 0) & (d["tick"] <= sc.max_ticks), f"tick outside 0..{sc.max_ticks}")
    _check((d["outcome"] >= 0) & (d["outcome"] <= 3), "outcome outside the codes 0..3")
    if K:
        _check((d["controller"] >= -1) & (d["controller"] <= 1), "controller outside -1..1")
        _check(d["hold"] >= 0, "hold holds negative counts")
    if "ammo" in d:
        _check(d["ammo"] >= 0, "ammo holds negative counts")
    if "probs" in d:
        p = d["probs"]
        _check(np.isnan(p) | ((p >= 0) & (p <= 1)), "probs outside [0, 1]")
    if "value" in d:
        _check(~np.isinf(d["value"]), "value holds infinite values")


def check_header(header: dict[str, Any]) -> None:
    """Raise ValueError unless the header's fields have the types the loader reads."""
    if header.get("combat", "stochastic") not in ("stochastic", "expected"):
        raise ValueError(
            f"header combat is {header.get('combat')!r}, expected stochastic or expected"
        )
    if not isinstance(header.get("meta", {}), dict):
        raise ValueError("header meta is not a table")
    tracks = header.get("tracks", [])
    if not isinstance(tracks, list) or not all(isinstance(t, dict) for t in tracks):
        raise ValueError("header tracks must be a list of tables")
