"""Argument checking and small pieces shared by the cgfsim envs."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cgfsim.sim.doctrines import ALIASES, DOCTRINES, get_doctrine
from cgfsim.sim.errors import ScenarioError
from cgfsim.sim.scenario import Scenario, load_scenario, load_scenario_text, resolve

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

SIDES = ("blue", "red")
RENDER_MODES = ("ansi", "rgb_array")
Policy = Callable[["Engine", int], np.ndarray]
ScenarioLike = str | Path | Scenario


@lru_cache(maxsize=32)
def _load(path: str, mtime_ns: int) -> Scenario:
    del mtime_ns  # part of the cache key only: an edited file is loaded again
    return load_scenario(path)


@lru_cache(maxsize=8)
def _load_text(text: str) -> Scenario:
    return load_scenario_text(text, "<scenario text>")


def is_scenario_text(src: object) -> bool:
    """A string holding a scenario's TOML itself (several lines) rather than a name or path."""
    return isinstance(src, str) and "\n" in src and "[scenario]" in src


def get_scenario(scenario: ScenarioLike | None, path: str | Path | None = None) -> Scenario:
    """A scenario from a built-in name, a file path, TOML text or a :class:`Scenario`, cached.

    Random-map scenarios build their map pool when loaded; caching keeps
    re-creating an env (as Gymnasium's checker does per render mode) cheap.
    TOML text (``scenario=<the file's text>``) lets an env spec carry its
    scenario by value: Minari datasets record their env that way, so
    ``dataset.recover_environment()`` needs no file on the reader's machine.
    """
    if path is not None and scenario is not None:
        raise ScenarioError(f"give either scenario={scenario!r} or path={str(path)!r}, not both")
    src = path if path is not None else scenario
    if src is None:
        raise ScenarioError("no scenario: pass path='my.toml' (or scenario=<built-in name>)")
    if isinstance(src, Scenario):
        return src
    if is_scenario_text(src):
        return _load_text(str(src))
    if isinstance(src, str):  # a built-in's [scenario] name, e.g. "RandomField"
        from cgfsim.envs.registration import builtin_ids

        stems = {i.split("/")[1].removesuffix("-v0").lower(): s for i, s in builtin_ids().items()}
        src = stems.get(src.lower(), src)
    p = resolve(src)
    return _load(str(p.resolve()), p.stat().st_mtime_ns)


def side_index(side: str | int) -> int:
    """0 for blue, 1 for red; a clear error for anything else."""
    if isinstance(side, str) and side.lower() in SIDES:
        return SIDES.index(side.lower())
    if isinstance(side, (int, np.integer)) and not isinstance(side, bool) and side in (0, 1):
        return int(side)
    raise ValueError(f"unknown side {side!r}; expected one of {', '.join(SIDES)}")


def get_policy(opponent: str | Policy | None, scenario: Scenario, side: int) -> tuple[Policy, str]:
    """The opponent's policy for ``side`` and its name.

    ``None`` picks the scenario's doctrine hint for that side, else "assault".
    """
    if opponent is None:
        opponent = scenario.doctrine_hint[side] or "assault"
    if callable(opponent):
        return opponent, getattr(opponent, "__name__", type(opponent).__name__)
    if isinstance(opponent, str):
        try:
            return get_doctrine(opponent), opponent
        except ValueError:
            pass
    names = ", ".join([*DOCTRINES, *ALIASES])
    raise ValueError(
        f"unknown opponent {opponent!r}; expected a doctrine name ({names}) "
        "or a callable fn(engine, side) -> (B, n_slots) actions"
    )


def check_render_mode(render_mode: str | None) -> str | None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(
            f"unknown render_mode {render_mode!r}; expected None or one of "
            f"{', '.join(RENDER_MODES)}"
        )
    return render_mode


def render(engine: Engine, mode: str | None, world: int = 0) -> str | np.ndarray | None:
    """Render one world with :mod:`cgfsim.sim.render` (imported only when rendering)."""
    if mode is None:
        return None
    from cgfsim.sim import render as R

    if mode == "ansi":
        return R.render_ansi(engine, world, color=True)
    return R.render_rgb(engine, world)


def check_actions(actions: Any, shape: tuple[int, ...], n_actions: int) -> np.ndarray:
    """Validate integer actions in 0..n_actions-1 with the given shape (int64 out)."""
    a = np.asarray(actions)
    if a.shape != shape:
        raise ValueError(f"actions must have shape {shape} (one per unit slot), got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        if not (np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a))):
            raise ValueError(f"actions must be integers, got dtype {a.dtype}")
    bad = (a < 0) | (a >= n_actions)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"unit slot {pos[-1]}" + (f" of world {pos[0]}" if len(pos) > 1 else "")
        raise ValueError(
            f"action {a[pos].item()} of {where} is out of range; allowed "
            f"0..{n_actions - 1} (0 stay, 1-4 move N/E/S/W, 5 fire_nearest, 6 take_cover, "
            f"7..{n_actions - 1} fire_at enemy slot)"
        )
    return a.astype(np.int64, copy=False)


def outcome_text(code: int, side: int) -> str:
    """'win', 'draw' or 'loss' for ``side`` from an engine outcome code (1 blue, 2 red, 3 draw)."""
    if code == 3:
        return "draw"
    return "win" if code == 1 + side else "loss"


def episode_info(engine: Engine, world: int, side: int) -> dict[str, Any]:
    """What a finished episode's ``info`` carries, from ``side``'s point of view."""
    e, w = engine, world
    own = slice(0, e.nb) if side == 0 else slice(e.nb, e.U)
    names = ("none", "own", "enemy")
    ctrl = [0 if c < 0 else 1 + int(c != side) for c in e.controller[w].tolist()]
    objective = {
        o.name: {
            "controller": names[ctrl[k]],
            "hold": int(e.hold[w, k, side]),
            "enemy_hold": int(e.hold[w, k, 1 - side]),
        }
        for k, o in enumerate(e.scenario.objectives)
    }
    return {
        "outcome": outcome_text(int(e.outcome[w]), side),
        "kills": int(e.stat_kills[w, side]),
        "losses": int((e.present[own] & ~e.alive[w, own]).sum()),
        "objective": objective,
        "episode_length": int(e.tick[w]),
    }
