"""Per-world opponents: each world of a batch plays its own opponent, drawn per episode.

A league trains one learner against a mixture of opponents on ONE batched
engine. :class:`PerWorldOpponent` is the engine-side opponent callable
``fn(engine, side) -> (B, n_slots)`` that makes this possible:

- when a world starts an episode (its tick is 0 at the opponent's first call
  of the episode), the world draws its opponent from a *pool* (``pool.sample``);
- each tick, worlds that share an opponent are stepped together: the
  opponent is called once with the indices of its worlds, so a doctrine is
  vectorised over exactly those worlds and a network runs one batched forward
  pass over them;
- when an episode ends, the env reports the learner's outcome per world
  (:meth:`PerWorldOpponent.episode_end`, called by
  :class:`~cgfsim.envs.batched.BatchedCommanderEnv`) and the pool records it
  against the opponent that world played.

A *player* is any callable ``player(engine, side, idx) -> (len(idx), n_slots)``
engine-frame actions for the worlds ``idx``. :class:`DoctrinePlayer` runs a
doctrine on a :class:`WorldSubset`, a read-only view of those worlds of the
engine; doctrines are per-world functions, so this equals the rows ``idx`` of
the doctrine run on the whole batch (tested for every doctrine). Network
players live in :mod:`cgfsim.agents.league` (this module imports no torch).
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cgfsim.sim.doctrines import get_doctrine

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

#: player(engine, side, worlds) -> (len(worlds), n_slots) engine-frame actions
Player = Callable[["Engine", int, np.ndarray], np.ndarray]

_PER_WORLD: dict[tuple[type, int, int], frozenset[str]] = {}


def per_world_attributes(engine: Engine) -> frozenset[str]:
    """Names of the engine's per-world state arrays (leading dimension B).

    Found by comparison with a probe engine of another batch size, so a
    static table that happens to have B rows (B = number of unit slots, say)
    is not mistaken for state, and state added to the engine later is found
    without a list to keep up to date.
    """
    from cgfsim.sim.engine import Engine

    B = engine.B
    key = (type(engine), id(engine.scenario), B)
    if key not in _PER_WORLD:
        probe = Engine(engine.scenario, B + 1, seed=0)
        names = set()
        for k, v in vars(engine).items():
            p = getattr(probe, k, None)
            if (
                isinstance(v, np.ndarray)
                and isinstance(p, np.ndarray)
                and v.ndim >= 1
                and v.shape[0] == B
                and p.shape[0] == B + 1
            ):
                names.add(k)
        _PER_WORLD[key] = frozenset(names)
    return _PER_WORLD[key]


@functools.cache
def _class_attribute(cls: type, name: str) -> Any:
    """The class's own attribute ``name`` (a property, method, ...) or None; cached."""
    return inspect.getattr_static(cls, name, None)


class WorldSubset:
    """A view of some worlds of an engine, for doctrines that act on a subset.

    Per-world arrays are copies of the engine's rows ``idx`` (sliced when
    first read), ``B`` is ``len(idx)``, everything else (maps, tables, the
    ``derived`` cache, the scenario) is the engine's own. Engine methods and
    properties run on the view, so ``view.ready()`` is the rows of
    ``engine.ready()``. Writing to the view never reaches the engine: a view
    is for reading state and choosing actions.
    """

    def __init__(self, engine: Engine, idx: np.ndarray) -> None:
        self._engine = engine
        self._idx = np.asarray(idx, np.int64)
        self._names = per_world_attributes(engine)
        self.B = len(idx)

    def __getattr__(self, name: str) -> Any:
        engine = self._engine
        attr = _class_attribute(type(engine), name)  # type: ignore[arg-type]  # classes hash
        if isinstance(attr, property) and attr.fget is not None:
            return attr.fget(self)
        if isinstance(attr, types.FunctionType):  # a plain method, run on the view
            return types.MethodType(attr, self)
        value = getattr(engine, name)
        if name in self._names:
            value = value[self._idx]
            setattr(self, name, value)  # cached for this view's lifetime
        return value


class DoctrinePlayer:
    """A doctrine as a player: vectorised over the worlds that use it."""

    def __init__(self, name: str) -> None:
        self.doctrine = get_doctrine(name)
        self.name = name

    def __call__(self, engine: Engine, side: int, idx: np.ndarray) -> np.ndarray:
        if len(idx) == engine.B:
            return self.doctrine(engine, side)
        engine.path  # noqa: B018 -- build the shared path tables on the engine, not per view
        return self.doctrine(WorldSubset(engine, idx), side)  # type: ignore[arg-type]


class OpponentPool(Protocol):
    """What :class:`PerWorldOpponent` needs from a league."""

    def sample(self, n: int) -> np.ndarray:
        """Member ids of the opponents of ``n`` new episodes."""
        ...

    def record(self, members: np.ndarray, outcomes: np.ndarray) -> None:
        """Finished episodes: the member played and the learner's outcome (+1, 0, -1)."""
        ...

    def player(self, member: int) -> Player:
        """The player of a member id."""
        ...


class PerWorldOpponent:
    """Engine-side opponent whose worlds each play an opponent drawn from ``pool`` per episode.

    ``assignment[i]`` is the member id world i plays in its current episode
    (-1 before its first episode). Use it as ``opponent=`` of a batched env.
    A new episode is recognised by the world's tick being 0, once: calling the
    opponent twice on the same state draws nothing new, and no reset hook is
    needed (evaluation loops reset worlds through the engine directly).
    """

    __name__ = "league"

    def __init__(self, pool: OpponentPool) -> None:
        self.pool = pool
        self.assignment = np.zeros(0, np.int64)
        self._drawn = np.zeros(0, bool)  # drawn at this tick 0 already

    def __call__(self, engine: Engine, side: int) -> np.ndarray:
        B = engine.B
        if self.assignment.shape != (B,):
            self.assignment = np.full(B, -1, np.int64)
            self._drawn = np.zeros(B, bool)
        first = engine.tick == 0
        self._drawn &= first
        new = np.flatnonzero((first & ~self._drawn) | (self.assignment < 0))
        if new.size:
            self.assignment[new] = self.pool.sample(new.size)
            self._drawn[new] = first[new]
        n_slots = engine.nb if side == 0 else engine.nr
        out = np.zeros((B, n_slots), np.int64)
        members = np.unique(self.assignment)
        for m in members.tolist():
            idx = np.flatnonzero(self.assignment == m)
            out[idx] = self.pool.player(m)(engine, side, idx)
        return out

    def episode_end(self, worlds: np.ndarray, outcomes: np.ndarray) -> None:
        """Record finished episodes of ``worlds`` (learner's outcome +1 win, 0 draw, -1 loss)."""
        worlds = np.asarray(worlds, np.int64)
        if self.assignment.size == 0 or worlds.size == 0:
            return
        m = self.assignment[worlds]
        played = m >= 0
        if played.any():
            self.pool.record(m[played], np.asarray(outcomes)[played])


__all__ = [
    "DoctrinePlayer",
    "OpponentPool",
    "PerWorldOpponent",
    "Player",
    "WorldSubset",
    "per_world_attributes",
]
