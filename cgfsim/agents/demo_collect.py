"""Collect whole labelled episodes on the batched engine: demonstrations and DAgger rollouts.

One loop serves both: in B worlds of one :class:`~cgfsim.envs.batched.BatchedCommanderEnv`
(no auto-reset, as in :func:`cgfsim.agents.evaluation.run_episodes`), every tick

1. the **expert** (a doctrine, a checkpoint, any :data:`~cgfsim.agents.evaluation.ActFn`)
   gives its actions: these are the *labels*;
2. a **behaviour** function may replace some of them (epsilon-random valid actions
   to widen state coverage, or DAgger's beta-mixture with the learner): the
   *executed* actions;
3. the env steps and every running world's observation, action mask, executed
   action, label, reward and termination flags go into a per-world buffer.

World i owes ``quotas[i]`` complete episodes of its key ``keys[i]`` (episode
indices 0, 1, ... of that key); a world that has met its quota stays frozen and
is no longer recorded. Buffers are preallocated ``(B, max_ticks + 1, ...)``
arrays written with one fancy-indexed assignment per tick; a finished episode is
copied out once. All randomness (epsilon, beta) is drawn from the counter-based
stream of :mod:`cgfsim.sim.rng` keyed by (world key, episode, tick, slot), so a
world's episode depends on its key alone, never on B or on the other worlds,
and ``cgfsim demos verify`` can regenerate it bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cgfsim.sim.rng import draw

if TYPE_CHECKING:
    from cgfsim.envs.batched import BatchedCommanderEnv

#: Streams of this module's draws (far from the engine's small stream ids).
STREAM_EPSILON = 0xDE70
STREAM_MIX = 0xDE71
#: Memory budget of one chunk's episode buffers; bigger observations get fewer worlds.
CHUNK_BYTES = 384 * 2**20

#: ``(obs, episode_start, mask) -> (B, n_own)`` canonical actions (see cgfsim.agents.evaluation).
ActFn = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]
#: ``(env, obs, episode_start, mask, expert_actions) -> executed actions``.
BehaviourFn = Callable[
    ["BatchedCommanderEnv", np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray
]


@dataclass
class Episode:
    """One complete episode of one world, from the acting side's point of view."""

    key: int  # the world's key (the data split lives in it, see cgfsim.sim.splits)
    index: int  # episode index of that key: 0 is the episode a reset with seed=key starts
    obs: np.ndarray  # (T + 1, *obs_shape) float32, the reset observation first
    actions: np.ndarray  # (T, n_own) int64, executed
    labels: np.ndarray  # (T, n_own) int64, the expert's choice (equal to actions without mixing)
    rewards: np.ndarray  # (T,) float32
    terminated: np.ndarray  # (T,) bool
    truncated: np.ndarray  # (T,) bool
    masks: np.ndarray  # (T + 1, n_own * n_actions) bool, valid actions of each observation
    outcome: int  # +1 win, 0 draw, -1 loss for the acting side
    #: Further per-observation arrays (T + 1 rows) stored under the episode's ``infos``.
    infos: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def mixed(self) -> bool:
        """Whether some executed action is not the expert's."""
        return bool((self.actions != self.labels).any())


def chunk_worlds(n_worlds: int, per_world_bytes: int, n_envs: int | None = None) -> int:
    """Worlds per batch: ``n_envs`` if given, else as many as :data:`CHUNK_BYTES` allows."""
    if n_envs is not None:
        return max(1, min(int(n_envs), n_worlds))
    return max(1, min(n_worlds, 4096, CHUNK_BYTES // max(per_world_bytes, 1)))


def buffer_bytes(obs_shape: tuple[int, ...], max_ticks: int, n_own: int, n_actions: int) -> int:
    """Bytes one world's episode buffers take (observations dominate)."""
    per_tick = 4 * math.prod(obs_shape) + n_own * n_actions + 16 * n_own + 6
    return (max_ticks + 1) * per_tick


def uniform(env: BatchedCommanderEnv, stream: int, slots: int) -> np.ndarray:
    """(B, slots) float64 in [0, 1) from each world's (key, episode, tick) stream."""
    e = env.engine
    r = draw(
        e.key[:, None],
        e.episode[:, None],
        e.tick[:, None],
        np.arange(slots, dtype=np.uint64)[None, :],
        stream,
    )
    return (r >> np.uint64(11)).astype(np.float64) * 2.0**-53


def random_valid(env: BatchedCommanderEnv, mask: np.ndarray) -> np.ndarray:
    """(B, n_own) a uniformly drawn valid action per unit slot (``stay`` is always valid)."""
    n_valid = mask.sum(-1)  # (B, O) >= 1
    u = uniform(env, STREAM_EPSILON + 1, mask.shape[1])
    k = np.minimum((u * n_valid).astype(np.int64), n_valid - 1)
    # index of the k-th valid action: first position where the running count exceeds k
    return (np.cumsum(mask, -1) > k[..., None]).argmax(-1).astype(np.int64)


def epsilon_behaviour(epsilon: float) -> BehaviourFn | None:
    """Each unit slot takes a uniformly random valid action with probability ``epsilon``."""
    if epsilon <= 0:
        return None

    def behave(
        env: BatchedCommanderEnv,
        obs: np.ndarray,
        start: np.ndarray,
        mask: np.ndarray,
        expert: np.ndarray,
    ) -> np.ndarray:
        explore = uniform(env, STREAM_EPSILON, mask.shape[1]) < epsilon
        return np.where(explore, random_valid(env, mask), expert)

    return behave


def collect_episodes(
    env: BatchedCommanderEnv,
    expert: ActFn,
    keys: np.ndarray,
    quotas: np.ndarray,
    behaviour: BehaviourFn | None = None,
    expert_masked: bool = False,
    on_episode: Callable[[Episode], None] | None = None,
    start_index: np.ndarray | None = None,
) -> list[Episode]:
    """Play world i (key ``keys[i]``) until it has finished ``quotas[i]`` episodes.

    ``env`` has ``len(keys)`` worlds and ``autoreset=False``. ``expert`` gives the
    labels; it sees the action mask when ``expert_masked`` (networks acting over valid
    actions). World i starts at episode index ``start_index[i]`` (default 0): a reset
    depends on (key, episode index) alone, so any episode can be replayed directly.
    Returns the episodes ordered by world, then episode index.
    """
    if env.autoreset:
        raise ValueError("collect_episodes needs an env built with autoreset=False")
    n = env.num_envs
    keys = np.asarray(keys, np.int64)
    quotas = np.asarray(quotas, np.int64)
    if keys.shape != (n,) or quotas.shape != (n,):
        raise ValueError(f"expected {n} keys and quotas, got {keys.shape} and {quotas.shape}")
    e = env.engine
    T = e.scenario.max_ticks
    n_own, n_act = env.n_own, env.n_actions
    obs = np.asarray(env.reset(keys))
    if start_index is not None:
        start_index = np.asarray(start_index, np.int64)
        for k in range(int(start_index.max(initial=0))):
            e.reset(start_index > k)  # bump the episode counter without playing
        obs = env.observer.build()
    ob = np.zeros((n, T + 1, *obs.shape[1:]), np.float32)
    mk = np.zeros((n, T + 1, n_own * n_act), bool)
    ac = np.zeros((n, T, n_own), np.int64)
    lb = np.zeros((n, T, n_own), np.int64)
    rw = np.zeros((n, T), np.float32)
    te = np.zeros((n, T), bool)
    tr = np.zeros((n, T), bool)
    mask = env.action_masks()
    ob[:, 0], mk[:, 0] = obs, mask
    t = np.zeros(n, np.int64)
    count = np.zeros(n, np.int64)
    start = np.ones(n, bool)
    out: list[Episode] = []
    active = count < quotas
    while active.any():
        m3 = mask.reshape(n, n_own, n_act)
        label = np.asarray(expert(obs, start, m3 if expert_masked else None), np.int64)
        act = label if behaviour is None else behaviour(env, obs, start, m3, label)
        o, r, term, trunc, _ = env.step(act)
        obs = np.asarray(o)
        mask = env.action_masks()
        idx = np.flatnonzero(active)
        ti = t[idx]
        ac[idx, ti], lb[idx, ti] = act[idx], label[idx]
        rw[idx, ti], te[idx, ti], tr[idx, ti] = r[idx], term[idx], trunc[idx]
        t[idx] = ti + 1
        ob[idx, ti + 1], mk[idx, ti + 1] = obs[idx], mask[idx]
        start[:] = False
        done = np.flatnonzero((term | trunc) & active)
        if done.size == 0:
            continue
        outcome = e.outcome[done].astype(np.int64)
        res = np.where(outcome == 3, 0, np.where(outcome == 1 + env.side, 1, -1))
        for j, i in enumerate(done.tolist()):
            L = int(t[i])
            ep = Episode(
                int(keys[i]),
                int(e.episode[i]),
                ob[i, : L + 1].copy(),
                ac[i, :L].copy(),
                lb[i, :L].copy(),
                rw[i, :L].copy(),
                te[i, :L].copy(),
                tr[i, :L].copy(),
                mk[i, : L + 1].copy(),
                int(res[j]),
            )
            out.append(ep)
            if on_episode is not None:
                on_episode(ep)
        count[done] += 1
        again = done[count[done] < quotas[done]]
        if again.size:
            m = np.zeros(n, bool)
            m[again] = True
            e.reset(m)  # no seed: the next episode of the same key
            obs[again] = env.observer.build(again)
            mask[again] = env.masker.build(again).reshape(again.size, -1)
            ob[again, 0], mk[again, 0] = obs[again], mask[again]
            t[again] = 0
            start[again] = True
        active = count < quotas
    out.sort(key=lambda ep: (ep.key, ep.index))
    return out


def world_quotas(episodes: int, per_world: int) -> np.ndarray:
    """Episodes owed by each world: ``per_world`` each, the last world takes the remainder."""
    if episodes < 1 or per_world < 1:
        raise ValueError("episodes and episodes per world must be >= 1")
    n = -(-episodes // per_world)
    q = np.full(n, per_world, np.int64)
    q[-1] = episodes - per_world * (n - 1)
    return q


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    for a in range(0, n, size):
        yield slice(a, min(n, a + size))


def summary(episodes: list[Episode]) -> dict[str, Any]:
    """Counts and the acting side's W/D/L over ``episodes``."""
    res = np.array([ep.outcome for ep in episodes], np.int64)
    n = len(res)
    return {
        "episodes": n,
        "transitions": int(sum(len(ep) for ep in episodes)),
        "wins": int((res == 1).sum()),
        "draws": int((res == 0).sum()),
        "losses": int((res == -1).sum()),
        "win_rate": float((res == 1).mean()) if n else 0.0,
    }
