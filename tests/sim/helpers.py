"""Small builders for hand-made test scenarios and engine drivers.

A test scenario is written as an ASCII terrain map plus unit lists with fixed
placements. Coordinates follow the scenario format: ``(x, y)`` = (column, row);
the engine stores ``y`` (row) and ``x`` (column) arrays.

``art()`` goes one step further: unit letters drawn on the map (upper case blue,
lower case red, letters from :data:`cgfsim.sim.units.UNIT_TYPES`) stand on open
ground and get slots in row-major order per side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from cgfsim.sim import units as U
from cgfsim.sim.engine import Engine, StepResult
from cgfsim.sim.scenario import Scenario, load_scenario_text

#: A fixed unit: (type name, x, y).
UnitSpec = tuple[str, int, int]

CHAR_TYPE = {t.char: t.name for t in U.UNIT_TYPES}

#: Every per-world state array of the engine (first axis B), compared bit for bit.
STATE_FIELDS = (
    "key", "episode", "tick", "map_id", "done", "outcome", "terminated", "truncated",
    "hold", "controller", "y", "x", "hp", "alive", "ammo", "cooldown", "mp", "covered",
    "visible", "last_y", "last_x", "last_tick", "shot_target", "shot_hit", "shot_damage",
    "stat_shots", "stat_hits", "stat_damage", "stat_kills", "d2", "los", "vp_tick",
    "vp_tick_seen",
)  # fmt: skip


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def _units_toml(units: Iterable[UnitSpec | Mapping[str, Any]]) -> str:
    rows = []
    for u in units:
        if isinstance(u, Mapping):
            body = ", ".join(f"{k} = {_toml_value(v)}" for k, v in u.items())
        else:
            t, x, y = u
            body = f'type = "{t}", at = [[{x}, {y}]]'
        rows.append(f"    {{ {body} }},")
    return "units = [\n" + "\n".join(rows) + "\n]"


def scenario_text(
    ascii_map: str,
    blue: Sequence[UnitSpec | Mapping[str, Any]],
    red: Sequence[UnitSpec | Mapping[str, Any]],
    *,
    name: str = "Test",
    combat: str = "stochastic",
    slots: tuple[int | None, int | None] = (None, None),
    zones: Mapping[str, Sequence[int]] | None = None,
    objectives: Sequence[Mapping[str, Any]] = (),
    max_ticks: int = 200,
    annihilation: bool = True,
    objective: bool | None = None,
    rewards: Mapping[str, Any] | None = None,
    points: Mapping[str, Any] | None = None,
) -> str:
    """TOML text of a scenario with the given map (rows separated by newlines) and units.

    ``points`` (a possibly empty mapping) sets ``time_limit = "points"`` and
    ``[victory.points]``.
    """
    rows = [ln.strip() for ln in ascii_map.strip("\n").splitlines()]
    parts = [
        "[scenario]",
        f'name = "{name}"',
        f'combat = "{combat}"',
        "",
        "[map]",
        'ascii = """',
        *rows,
        '"""',
        "",
    ]
    if zones:
        parts += ["[zones]", *(f"{k} = {_toml_value(list(v))}" for k, v in zones.items()), ""]
    for side, units, n in (("blue", blue, slots[0]), ("red", red, slots[1])):
        parts.append(f"[forces.{side}]")
        if n is not None:
            parts.append(f"slots = {n}")
        parts += [_units_toml(units), ""]
    for o in objectives:
        parts.append("[[objectives]]")
        parts += [f"{k} = {_toml_value(v)}" for k, v in o.items()]
        parts.append("")
    parts += [
        "[victory]",
        f"max_ticks = {max_ticks}",
        f"annihilation = {_toml_value(annihilation)}",
    ]
    if objective is not None:
        parts.append(f"objective = {_toml_value(objective)}")
    if points is not None:
        parts += ['time_limit = "points"', "[victory.points]"]
        parts += [f"{k} = {_toml_value(v)}" for k, v in points.items()]
    parts.append("")
    if rewards:
        flat = {k: v for k, v in rewards.items() if not isinstance(v, Mapping)}
        parts += ["[rewards]", *(f"{k} = {_toml_value(v)}" for k, v in flat.items())]
        for side in ("blue", "red"):
            if isinstance(rewards.get(side), Mapping):
                parts.append(f"[rewards.{side}]")
                parts += [f"{k} = {_toml_value(v)}" for k, v in rewards[side].items()]
    return "\n".join(parts) + "\n"


def make_scenario(
    ascii_map: str,
    blue: Sequence[UnitSpec | Mapping[str, Any]],
    red: Sequence[UnitSpec | Mapping[str, Any]],
    **kw: Any,
) -> Scenario:
    """Load :func:`scenario_text` through the real loader."""
    return load_scenario_text(scenario_text(ascii_map, blue, red, **kw), "test")


def parse_art(art: str) -> tuple[str, list[UnitSpec], list[UnitSpec]]:
    """Split a map with unit letters into terrain (letters -> open) and blue/red unit lists."""
    rows = [ln.strip() for ln in art.strip("\n").splitlines()]
    blue: list[UnitSpec] = []
    red: list[UnitSpec] = []
    terrain = []
    for y, row in enumerate(rows):
        out = []
        for x, ch in enumerate(row):
            if ch.upper() in CHAR_TYPE:
                (blue if ch.isupper() else red).append((CHAR_TYPE[ch.upper()], x, y))
                out.append(".")
            else:
                out.append(ch)
        terrain.append("".join(out))
    return "\n".join(terrain), blue, red


def art(picture: str, **kw: Any) -> Scenario:
    """A scenario drawn as a map with unit letters on it (I/A/R/G blue, i/a/r/g red)."""
    terrain, blue, red = parse_art(picture)
    return make_scenario(terrain, blue, red, **kw)


def engine(
    sc: Scenario, batch: int = 1, seed: int = 0, combat: str | None = None, sure_hits: bool = False
) -> Engine:
    """An engine; ``sure_hits`` makes every shot with a non-zero hit chance hit."""
    e = Engine(sc, batch, seed, combat=combat)
    if sure_hits:
        e.hit = np.where(e.hit > 0, U.P_ONE, 0).astype(e.hit.dtype)
    return e


def actions(e: Engine, blue: Sequence[int] = (), red: Sequence[int] = ()) -> np.ndarray:
    """(B, U) actions: the same per-slot actions in every world (missing slots stay)."""
    a = np.zeros((e.B, e.U), np.int64)
    a[:, : len(blue)] = blue
    a[:, e.nb : e.nb + len(red)] = red
    return a


def step(e: Engine, blue: Sequence[int] = (), red: Sequence[int] = ()) -> StepResult:
    return e.step(actions(e, blue, red))


def snapshot(e: Engine) -> dict[str, np.ndarray]:
    """Copies of every per-world state array."""
    return {k: np.array(getattr(e, k), copy=True) for k in STATE_FIELDS}


def pos(e: Engine, world: int = 0) -> list[tuple[int, int]]:
    """(x, y) of every slot of one world, in scenario coordinates."""
    return [(int(x), int(y)) for x, y in zip(e.x[world], e.y[world], strict=True)]
