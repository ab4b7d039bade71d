"""The batched commander env: B worlds of one Engine, stepped by one numpy call each tick.

This torch-free core is what every single-side interface is built on: the
Gymnasium env (B = 1, no auto-reset), the Gymnasium vector env, the SB3
``VecEnv`` adapter, and GA or evaluation loops that use it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from cgfsim.envs import _common as C
from cgfsim.envs.masks import MaskBuilder
from cgfsim.envs.observations import OBS_MODES, ObservationBuilder, to_engine_actions
from cgfsim.sim.engine import Engine
from cgfsim.sim.scenario import Scenario

Obs = np.ndarray | dict[str, np.ndarray]
SeedArg = int | Sequence[int | None] | np.ndarray | None


class BatchedCommanderEnv:
    """B worlds of a scenario; the learner commands ``side``, a doctrine (or callable) the other.

    Args:
        scenario: built-in scenario name (e.g. ``"skirmish"``), path, or :class:`Scenario`.
        num_envs: number of worlds B.
        path: a scenario file (alternative to ``scenario``).
        side: ``"blue"`` or ``"red"``, the side the learner commands.
        opponent: doctrine name, or callable ``fn(engine, side) -> (B, n_slots)`` actions in
            the engine's absolute directions; ``None`` takes the scenario's doctrine hint for
            the other side, else ``"assault"``. A callable with an ``episode_end(worlds,
            outcomes)`` method (e.g. :class:`~cgfsim.envs.opponents.PerWorldOpponent`, one
            opponent per world) is told each finished episode's outcome for the learner
            (+1 win, 0 draw, -1 loss) before the world resets.
        obs: ``"vector"``, ``"grid"`` or ``"entities"`` (see :mod:`cgfsim.envs.observations`).
        dict_obs: return ``{"observation": obs, "action_mask": int8 mask}`` instead.
        render_mode: ``None``, ``"ansi"`` or ``"rgb_array"``.
        combat: override the scenario's ``"stochastic"`` / ``"expected"`` fire resolution.
        autoreset: reset finished worlds inside :meth:`step` (their final observation goes to
            ``infos[i]["terminal_observation"]``, SB3 style); without it finished worlds stay
            frozen until :meth:`reset`.

    Seeding: world i of a reset with seed s gets key s + i (a sequence gives one seed per
    world; ``None`` entries, or no seed, start the world's next episode). A world's
    trajectory depends only on its key and episode counter, so world i here equals a
    single env reset with seed s + i, also across auto-resets.
    """

    def __init__(
        self,
        scenario: C.ScenarioLike | None = "skirmish",
        num_envs: int = 1,
        *,
        path: str | Path | None = None,
        side: str | int = "blue",
        opponent: str | C.Policy | None = None,
        obs: str = "vector",
        dict_obs: bool = False,
        render_mode: str | None = None,
        combat: str | None = None,
        autoreset: bool = True,
    ) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if obs not in OBS_MODES:
            raise ValueError(f"unknown observation mode {obs!r}; expected one of {OBS_MODES}")
        sc: Scenario = C.get_scenario(scenario, path)
        self.scenario = sc
        self.side = C.side_index(side)
        self.opponent, self.opponent_name = C.get_policy(opponent, sc, 1 - self.side)
        self.render_mode = C.check_render_mode(render_mode)
        self.obs_mode, self.dict_obs, self.autoreset = obs, bool(dict_obs), bool(autoreset)
        self.num_envs = B = int(num_envs)
        self.engine = e = Engine(sc, B, seed=0, combat=combat)
        self._seeded = False
        self.observer = ObservationBuilder(e, self.side, obs)
        self.masker = MaskBuilder(e, self.side)
        self.n_own, self.n_enemy = self.masker.O, self.masker.E
        self.n_actions = self.masker.n_actions
        self.action_space = spaces.MultiDiscrete(np.full(self.n_own, self.n_actions, np.int64))
        box = self.observer.space
        self.mask_size = self.n_own * self.n_actions
        self.observation_space: spaces.Space[Any] = (
            spaces.Dict({"observation": box, "action_mask": spaces.MultiBinary(self.mask_size)})
            if self.dict_obs
            else box
        )
        own = slice(0, e.nb) if self.side == 0 else slice(e.nb, e.U)
        self._own, self._other = own, slice(e.nb, e.U) if self.side == 0 else slice(0, e.nb)
        self._joint = np.zeros((B, e.U), np.int64)

    # ------------------------------------------------------------------ observe
    def _observe(self, idx: np.ndarray | None = None) -> Obs:
        o = self.observer.build(idx)
        if not self.dict_obs:
            return o
        m = self.masker.build(idx).reshape(len(o), -1).astype(np.int8)
        return {"observation": o, "action_mask": m}

    def observe(self) -> Obs:
        """A fresh observation of every world's current state."""
        return self._observe()

    def action_masks(self) -> np.ndarray:
        """(B, sum(nvec)) bool: MaskablePPO's flat per-world masks for the current state."""
        return self.masker.build().reshape(self.num_envs, -1)

    # ------------------------------------------------------------------ reset
    def reset(self, seed: SeedArg = None, options: dict[str, Any] | None = None) -> Obs:
        """Start a new episode in every world and return the observations.

        ``options`` are accepted for API compatibility; no keys are used.
        """
        del options
        B = self.num_envs
        if seed is None or np.isscalar(seed):
            seeds: list[int | None] = [None if seed is None else int(seed) + i for i in range(B)]
        else:
            seeds = [None if s is None else int(s) for s in seed]  # type: ignore[union-attr]
            if len(seeds) != B:
                raise ValueError(f"expected {B} seeds (one per world), got {len(seeds)}")
        if not self._seeded and any(s is None for s in seeds):
            base = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(2))
            seeds = [base + i if s is None else s for i, s in enumerate(seeds)]
        given = np.array([s is not None for s in seeds])
        if given.any():
            self.engine.reset(given, seeds=np.array([s for s in seeds if s is not None], np.int64))
        if not given.all():
            self.engine.reset(~given)
        self._seeded = True
        return self._observe()

    # ------------------------------------------------------------------ step
    def step(self, actions: Any) -> tuple[Obs, np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """Advance all worlds one tick with the learner's (B, n_own) canonical actions.

        Returns observations, rewards (B,) float32 of the learner's side, terminated and
        truncated (B,) bool, and a list of B info dicts; a world whose episode ended this
        tick has :func:`~cgfsim.envs._common.episode_info` in its dict, plus with auto-reset
        ``terminal_observation`` and ``TimeLimit.truncated``, and the next episode's first
        observation in ``obs``.
        """
        return self._step(C.check_actions(actions, (self.num_envs, self.n_own), self.n_actions))

    def _step(self, act: np.ndarray) -> tuple[Obs, np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """:meth:`step` with already validated int64 actions."""
        e = self.engine
        joint = self._joint
        joint[:, self._own] = to_engine_actions(act, self.side)
        joint[:, self._other] = self.opponent(e, 1 - self.side)
        res = e.step(joint)
        rewards = res.rewards[:, self.side].copy()
        terminated, truncated = res.terminated.copy(), res.truncated.copy()
        obs = self._observe()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if res.done.any():
            idx = np.flatnonzero(res.done)
            at_end = C.info_arrays(e, self.side, idx)  # one pass for every world that ended
            ended = getattr(self.opponent, "episode_end", None)
            if ended is not None:  # a per-world opponent (league) learns who won where
                ended(idx, at_end["outcome"])  # 1 win, 0 draw, -1 loss for this side
            for j, i in enumerate(idx.tolist()):
                info = infos[i]
                info.update(C.world_info(at_end, j))
                if self.autoreset:
                    info["terminal_observation"] = (
                        {k: v[i].copy() for k, v in obs.items()}
                        if isinstance(obs, dict)
                        else obs[i].copy()
                    )
                    info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            if self.autoreset:
                e.reset(res.done)
                fresh = self._observe(idx)
                if isinstance(obs, dict):
                    for k in obs:
                        obs[k][idx] = fresh[k]
                else:
                    obs[idx] = fresh
        return obs, rewards, terminated, truncated, infos

    # ------------------------------------------------------------------ misc
    def render(self, world: int = 0) -> str | np.ndarray | None:
        """World ``world`` as text (``ansi``) or an RGB array (``rgb_array``), full view."""
        return C.render(self.engine, self.render_mode, world)

    def close(self) -> None:
        """Nothing to release; present for API symmetry."""
