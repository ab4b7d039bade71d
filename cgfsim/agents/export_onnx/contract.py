"""``contract.json``: what a host program puts into ``policy.onnx`` and what comes out.

The observation part is generated from
:meth:`cgfsim.envs.observations.ObservationBuilder.layout`, the same table
that builds observations, so the contract cannot drift from the arrays the
policy was trained on. Everything else (action table, slot counts, the
side's canonical frame) is read from :mod:`cgfsim.sim.actions`, the scenario
and :func:`cgfsim.envs.observations.to_engine_actions`.

No torch here: a contract is read (and checked) by the ONNX Runtime player.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.sim import actions as A
from cgfsim.sim.errors import CgfsimError

FORMAT = "cgfsim-onnx-contract"
VERSION = 1
CONTRACT = "contract.json"
MODEL = "policy.onnx"
#: ONNX model metadata key holding the checkpoint digest (checked against the contract).
META_DIGEST = "cgfsim.checkpoint_weights_sha256"
SIDES = ("blue", "red")

_PAIR = re.compile(r"^own(\d+)_(enemy|obj)(\d+)_")
_SLOT = re.compile(r"^(own|enemy|obj)(\d+)_")


class ExportError(CgfsimError, ValueError):
    """An exported folder (or an export request) is invalid; the message is one line."""


def column_template(name: str, slot: int | None, other: int | None) -> str:
    """The name of a layout element with its slot numbers as ``{i}``/``{j}`` placeholders.

    ``own3_hp`` -> ``own{i}_hp``; ``own1_enemy2_threat`` -> ``own{i}_enemy{j}_threat``;
    entity and grid elements (no slot) keep their name. ``template.format(i=slot,
    j=other)`` gives the name back (a test checks it for every element).
    """
    if other is not None:
        return _PAIR.sub(lambda m: f"own{{i}}_{m.group(2)}{{j}}_", name, count=1)
    if slot is not None:
        return _SLOT.sub(lambda m: f"{m.group(1)}{{i}}_", name, count=1)
    return name


def _columns(layout: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group layout elements into feature columns with a slice (start, stop, step) each."""
    cols: dict[str, dict[str, Any]] = {}
    for e in layout:
        key = column_template(e["name"], e["slot"], e["other"])
        c = cols.get(key)
        if c is None:
            cols[key] = c = {
                "name": key,
                "feature": e["feature"],
                "group": e["group"],
                "low": e["low"],
                "high": e["high"],
                "meaning": e["meaning"],
                "indices": [],
                "slots": [],
            }
        c["indices"].append(e["index"])
        c["slots"].append([e["slot"], e["other"]])
    out = []
    for c in cols.values():
        idx = c.pop("indices")
        slots = c.pop("slots")
        step = idx[1] - idx[0] if len(idx) > 1 else 1
        if any(b - a != step for a, b in itertools.pairwise(idx)) or step < 1:
            raise ExportError(f"feature column {c['name']} is not a strided slice: {idx}")
        c["slice"] = {"start": idx[0], "stop": idx[-1] + 1, "step": step}
        c["count"] = len(idx)
        if slots[0][1] is not None:  # pairs: own slot major
            c["shape"] = [len({s[0] for s in slots}), len({s[1] for s in slots})]
        out.append(c)
    return out


def observation_contract(scenario: Any, side: int, mode: str) -> dict[str, Any]:
    """The observation section: shape, axes, scales, feature columns and every element."""
    from cgfsim.envs.observations import ObservationBuilder
    from cgfsim.sim.engine import Engine
    from cgfsim.sim.terrain import MAX_COVER, MP_CAP
    from cgfsim.sim.units import AMMO, HP, UNIT_TYPES

    ob = ObservationBuilder(Engine(scenario, 1, seed=0), side, mode)
    layout = [e.to_dict() for e in ob.layout()]
    types = [t.name for t in UNIT_TYPES]
    own_t, en_t = ob.t_own.tolist(), ob.t_en.tolist()
    scales = {
        "rows": ob.H,
        "cols": ob.W,
        "row_scale": float(ob.inv_h),
        "col_scale": float(ob.inv_w),
        "max_ticks": int(scenario.max_ticks),
        "own_slots": ob.O,
        "enemy_slots": ob.E,
        "objectives": ob.K,
        "movement_cap": int(MP_CAP),
        "max_cover": int(MAX_COVER),
        "victory_points_scale": float(ob.inv_vp),
        "own_types": [types[t] for t in own_t],
        "enemy_types": [types[t] for t in en_t],
        "own_hp_max": [float(HP[t]) for t in own_t],
        "enemy_hp_max": [float(HP[t]) for t in en_t],
        "own_ammo_max": [int(AMMO[t]) for t in own_t],
    }
    axis = {
        "vector": "element of the flat vector",
        "grid": "channel; each channel is an H x W plane of canonical rows x columns",
        "entities": "column; rows are own slots, then enemy slots, then objectives",
    }[mode]
    doc: dict[str, Any] = {
        "mode": mode,
        "shape": list(ob.shape),
        "dtype": "float32",
        "order": "C (row-major)",
        "feature_axis": axis,
        "scales": scales,
        "features": _columns(layout),
        "layout": layout,
    }
    if mode == "entities":
        doc["rows"] = (
            [{"row": i, "kind": "own", "slot": i} for i in range(ob.O)]
            + [{"row": ob.O + j, "kind": "enemy", "slot": j} for j in range(ob.E)]
            + [{"row": ob.O + ob.E + k, "kind": "objective", "slot": k} for k in range(ob.K)]
        )
    return doc


def action_table(n_enemy_slots: int) -> list[dict[str, Any]]:
    """Every action of one unit slot, in the canonical frame (row - 1 is forward)."""
    out = []
    for a in range(A.n_actions(n_enemy_slots)):
        row: dict[str, Any] = {"index": a, "name": A.action_name(a)}
        if a < A.N_FIXED:
            row["move"] = [int(A.DY[a]), int(A.DX[a])]  # (d_row, d_col); zero unless a move
        if a >= A.FIRE_AT:
            row["target_enemy_slot"] = a - A.FIRE_AT
        out.append(row)
    return out


def frame_contract(side: int, n_actions: int, height: int) -> dict[str, Any]:
    """The side's canonical frame: how observations and actions map to the simulator's map."""
    from cgfsim.envs.observations import to_engine_actions

    red = side == 1
    return {
        "side": SIDES[side],
        "flip_rows": red,
        "swap_north_south": red,
        "canonical_row_of_map_row": f"{height - 1} - row" if red else "row",
        "engine_action_of_canonical": to_engine_actions(np.arange(n_actions), side).tolist(),
        "rule": (
            "observations are in the acting side's frame: own units first; for red the map's "
            "rows are flipped (row r is shown as H - 1 - r) so it also advances upward, and "
            "its north/south orders must be swapped back before the simulator executes them "
            "(engine_action_of_canonical)"
        ),
    }


def scenario_contract(scenario: Any, side: int) -> dict[str, Any]:
    """Slot counts and forces of the scenario the policy was exported for."""
    from cgfsim.sim.units import UNIT_TYPES

    names = [t.name for t in UNIT_TYPES]

    def force(s: int) -> list[dict[str, Any]]:
        sl = scenario.side_slice(s)
        return [
            {"slot": i, "type": names[int(t)] if p else None, "present": bool(p)}
            for i, (t, p) in enumerate(
                zip(scenario.unit_type[sl], scenario.present[sl], strict=True)
            )
        ]

    own, en = force(side), force(1 - side)
    return {
        "name": scenario.name,
        "height": int(scenario.height),
        "width": int(scenario.width),
        "max_ticks": int(scenario.max_ticks),
        "random_maps": len(scenario.maps) if len(scenario.maps) > 1 else 0,
        "slots": {"own": len(own), "enemy": len(en), "objectives": len(scenario.objectives)},
        "own_units": own,
        "enemy_units": en,
        "objectives": [
            {"name": o.name, "zone": o.zone, "rect_xyxy": list(o.rect), "hold_ticks": o.hold_ticks}
            for o in scenario.objectives
        ],
    }


def io_contract(spec: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The graph's inputs and outputs, in the order a host passes and reads them."""
    u, a = spec.n_units, spec.n_actions
    inputs: list[dict[str, Any]] = [
        {
            "name": "obs",
            "dtype": "float32",
            "shape": ["batch", *spec.obs_shape],
            "meaning": "one observation per world, laid out as in 'observation'",
        }
    ]
    outputs: list[dict[str, Any]] = [
        {
            "name": "logits",
            "dtype": "float32",
            "shape": ["batch", u, a],
            "meaning": "unnormalised log-probabilities per unit slot and action; "
            "masked actions are -1e8",
        },
        {
            "name": "actions",
            "dtype": "int64",
            "shape": ["batch", u],
            "meaning": "greedy action per unit slot (argmax of logits, first on ties), "
            "canonical frame",
        },
    ]
    if spec.core == "lstm":
        h = spec.lstm_hidden
        for n, what in (("h", "hidden"), ("c", "cell")):
            inputs.append(
                {
                    "name": n,
                    "dtype": "float32",
                    "shape": ["batch", h],
                    "meaning": f"LSTM {what} state: the previous step's {n}_out for this "
                    "world, zeros at the first step of an episode",
                }
            )
            outputs.append(
                {
                    "name": f"{n}_out",
                    "dtype": "float32",
                    "shape": ["batch", h],
                    "meaning": f"LSTM {what} state to feed back as {n} at the next step",
                }
            )
    inputs.append(
        {
            "name": "action_mask",
            "dtype": "bool",
            "shape": ["batch", u, a],
            "optional": True,
            "default": "every action allowed",
            "meaning": "true where the action can have an effect now; false sets the logit "
            "to -1e8 (an overridable initializer: omit it to allow everything)",
        }
    )
    return inputs, outputs


def read_tagged_json(
    f: Path, fmt: str, version: int, error: type[CgfsimError], where: str
) -> dict[str, Any]:
    """A JSON file tagged ``{"format": fmt, "version": <= version}``; else one-line ``error``."""
    if not f.is_file():
        raise error(f"{where}: {f.name} is missing")
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{where}: {f.name} is not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise error(f"{where}: {f.name} is not a {fmt} file")
    if not isinstance(doc.get("version"), int) or doc["version"] > version:
        raise error(
            f"{where}: {f.name} version {doc.get('version')!r} is not supported "
            f"(this cgfsim reads up to {version})"
        )
    return doc


def read_contract(folder: str | Path) -> dict[str, Any]:
    """The parsed ``contract.json`` of an exported folder; one-line :class:`ExportError`."""
    d = Path(folder)
    where = f"exported folder {d}"
    doc = read_tagged_json(d / CONTRACT, FORMAT, VERSION, ExportError, where)
    for key in ("model", "checkpoint", "policy", "observation", "inputs", "outputs", "frame"):
        if not isinstance(doc.get(key), dict | list):
            raise ExportError(f"{where}: {CONTRACT} has no {key!r} section")
    return doc
