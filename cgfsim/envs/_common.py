"""Argument checking and small pieces shared by the cgfsim envs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from cgfsim.sim.doctrines import ALIASES, DOCTRINES, get_doctrine
from cgfsim.sim.errors import ScenarioError
from cgfsim.sim.scenario import Scenario, load_scenario, load_scenario_text, resolve

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

SIDES = ("blue", "red")
RENDER_MODES = ("ansi", "rgb_array", "human")
RENDER_FPS = 8
#: ``info["outcome"]`` code -> name, from the acting side's point of view (the sign is the score).
OUTCOMES = {1: "win", 0: "draw", -1: "loss"}
#: ``info["objective"][name]["controller"]`` code -> name.
CONTROLLERS = {1: "own", 0: "none", -1: "enemy"}
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
        raise ScenarioError(
            "no scenario given: pass path='my.toml', e.g. "
            "gymnasium.make('cgfsim/Scenario-v0', path='my.toml') (or scenario=<built-in name>)"
        )
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


def reject_unknown(unknown: dict[str, Any], accepted: tuple[str, ...], where: str) -> None:
    """Raise a one-line ``TypeError`` naming unknown keyword arguments and the accepted ones."""
    if unknown:
        raise TypeError(
            f"{where} got unknown keyword argument(s) {', '.join(sorted(unknown))}; "
            f"accepted: {', '.join(accepted)}"
        )


def render(engine: Engine, mode: str | None, world: int = 0) -> str | np.ndarray | None:
    """Render one world with :mod:`cgfsim.sim.render` (imported only when rendering).

    ``human`` returns the ANSI text (coloured on a terminal) for a :class:`HumanView` to print.
    """
    if mode is None:
        return None
    from cgfsim.sim import render as R

    if mode == "ansi":
        return R.render_ansi(engine, world, color=True)
    if mode == "human":
        return R.render_ansi(engine, world, color=sys.stdout.isatty())
    return R.render_rgb(engine, world)


class HumanView:
    """``render_mode="human"``: prints frames to a terminal at ``fps`` frames per second.

    Like pygame's clock, it waits only for what is left of a frame's time since
    the previous frame, and only when the stream is a terminal: output piped to
    a file or captured by a test has nobody watching, so it is not slowed down.
    On a terminal each frame redraws the screen in place. A frame identical to
    the previous one is not shown again: the envs draw every step themselves
    (Gymnasium's convention), and callers that also call ``render()`` after each
    step (RL Zoo's ``enjoy``, PettingZoo's ``render_test``) would otherwise
    print, and wait for, every frame twice.
    """

    def __init__(self, fps: float = RENDER_FPS, stream: TextIO | None = None) -> None:
        self.fps = float(fps)
        self.stream = stream
        self._last: float | None = None
        self._text: str | None = None

    def show(self, text: str) -> None:
        if text == self._text:
            return
        self._text = text
        out = self.stream if self.stream is not None else sys.stdout
        tty = out.isatty()
        if tty and self._last is not None:
            wait = self._last + 1.0 / self.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        out.write(("\x1b[H\x1b[2J" if tty else "") + text + "\n")
        out.flush()
        self._last = time.monotonic()


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


def outcome_name(code: int) -> str:
    """``"win"``, ``"draw"`` or ``"loss"`` for an ``info["outcome"]`` code (1, 0, -1)."""
    return OUTCOMES[int(code)]


def info_arrays(engine: Engine, side: int, idx: np.ndarray | None = None) -> dict[str, Any]:
    """The ``info`` of every world (or the worlds in ``idx``) from ``side``'s view, as arrays.

    Every env builds its ``info`` here, so the keys and types are the same at
    every step, reset included (what Minari's ``DataCollector(record_infos=True)``
    and per-step loggers need), and no strings are involved:

    - ``outcome``: 1 win, 0 draw, -1 loss (names in :data:`OUTCOMES`): the result were the
      episode to end now. Final once ``terminated`` or ``truncated``; before that it is the
      time limit's verdict (a draw, or the victory-points leader with ``time_limit =
      "points"``), so a ``TimeLimit`` wrapper that truncates first reports that verdict;
    - ``tick``: ticks played in this episode (the episode's length at its end);
    - ``kills`` / ``losses``: enemy / own units destroyed so far;
    - ``objective``: per objective name, ``controller`` (1 own, 0 none, -1 enemy; names in
      :data:`CONTROLLERS`), ``hold`` and ``enemy_hold`` (consecutive ticks held).

    Integer arrays are int64, so per-world values match Python ints after batching.
    """
    e = engine
    w: slice | np.ndarray = slice(None) if idx is None else idx
    code = np.where(e.done[w], e.outcome[w], e.time_limit_outcome()[w]).astype(np.int64)
    enemy_won = 2 - side  # engine codes: 1 blue won, 2 red won, 3 draw
    outcome = np.where(code == 1 + side, 1, np.where(code == enemy_won, -1, 0))
    own = slice(0, e.nb) if side == 0 else slice(e.nb, e.U)
    ctrl = e.controller[w].astype(np.int64)
    ctrl = np.where(ctrl < 0, 0, np.where(ctrl == side, 1, -1))
    hold = e.hold[w].astype(np.int64)
    objective = {
        o.name: {
            "controller": ctrl[:, k],
            "hold": hold[:, k, side],
            "enemy_hold": hold[:, k, 1 - side],
        }
        for k, o in enumerate(e.scenario.objectives)
    }
    return {
        "outcome": outcome.astype(np.int64),
        "tick": e.tick[w].astype(np.int64),
        "kills": e.stat_kills[w, side].astype(np.int64),
        "losses": (e.present[own] & ~e.alive[w, own]).sum(1).astype(np.int64),
        "objective": objective,
    }


def world_info(arrays: dict[str, Any], i: int) -> dict[str, Any]:
    """Row ``i`` of :func:`info_arrays` as a fresh dict of Python ints."""
    return {k: world_info(v, i) if isinstance(v, dict) else int(v[i]) for k, v in arrays.items()}


def with_masks(arrays: dict[str, Any], n: int) -> dict[str, Any]:
    """:func:`info_arrays` in Gymnasium's vector form: every key ``k`` paired with ``_k``.

    Gives what ``VectorEnv._add_info`` builds from n per-world dicts that all carry
    every key, without a Python loop over worlds.
    """
    out: dict[str, Any] = {}
    for k, v in arrays.items():
        out[k] = with_masks(v, n) if isinstance(v, dict) else v
        out[f"_{k}"] = np.ones(n, bool)
    return out


def episode_info(engine: Engine, world: int, side: int) -> dict[str, Any]:
    """One world's ``info`` (see :func:`info_arrays`) as a dict of Python ints."""
    return world_info(info_arrays(engine, side, np.array([world])), 0)
