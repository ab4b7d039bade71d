"""Stable-Baselines3 ``VecEnv`` adapter over the batched core (imports SB3, hence torch).

This is the one module of :mod:`cgfsim.envs` that pulls in stable-baselines3;
import it only when training. Wrap it in ``VecMonitor`` so episode returns
reach SB3's logs::

    from stable_baselines3.common.vec_env import VecMonitor
    from cgfsim.envs.sb3 import CgfsimVecEnv
    venv = VecMonitor(CgfsimVecEnv("skirmish", num_envs=64, opponent="assault"))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from cgfsim.envs import _common as C
from cgfsim.envs.batched import BatchedCommanderEnv


class CgfsimVecEnv(VecEnv):
    """B worlds of one engine as an SB3 ``VecEnv`` (world-steps, not B separate envs).

    Keyword arguments are those of :class:`~cgfsim.envs.batched.BatchedCommanderEnv`.
    Finished worlds auto-reset; their last observation is in
    ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]``
    tells a time limit from a real ending. ``seed(s)`` (what ``PPO(seed=s)`` calls)
    gives world i the key s + i at the next ``reset()``; ``set_options`` is honoured
    the same way. Attributes are shared by all worlds: ``get_attr`` reads the core's,
    ``set_attr`` sets it for all worlds. ``env_method("action_masks")`` returns one
    flat ``(sum(nvec),)`` mask per world, as MaskablePPO expects.
    """

    def __init__(
        self, scenario: C.ScenarioLike | None = "skirmish", num_envs: int = 1, **kwargs: Any
    ) -> None:
        # The core must exist before VecEnv.__init__, which calls get_attr("render_mode").
        self.core = BatchedCommanderEnv(scenario, num_envs, autoreset=True, **kwargs)
        super().__init__(self.core.num_envs, self.core.observation_space, self.core.action_space)
        self._actions: np.ndarray | None = None

    @property
    def engine(self) -> Any:
        return self.core.engine

    # ------------------------------------------------------------------ core API
    def reset(self) -> VecEnvObs:
        seeds = [None if s is None else int(s) for s in self._seeds]
        obs = self.core.reset(seeds, self._options[0] if self._options else None)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions)")
        obs, rew, term, trunc, infos = self.core.step(self._actions)
        self._actions = None
        return obs, rew, term | trunc, infos

    def close(self) -> None:
        self.core.close()

    def action_masks(self) -> np.ndarray:
        """(B, sum(nvec)) bool masks of the current state."""
        return self.core.action_masks()

    # ------------------------------------------------------------------ attributes
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.core, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        idx = list(self._get_indices(indices))
        if sorted(idx) != list(range(self.num_envs)):
            raise ValueError(
                f"{attr_name!r} is shared by all {self.num_envs} worlds of the "
                f"batched env; set it for all of them (indices=None), not {idx}"
            )
        setattr(self.core, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Call a core method; per-world results for ``action_masks`` and ``render``."""
        idx = list(self._get_indices(indices))
        if method_name == "action_masks":
            masks = self.core.action_masks()
            return [masks[i] for i in idx]
        if method_name == "render":
            return [self.core.render(i) for i in idx]
        result = getattr(self.core, method_name)(*method_args, **method_kwargs)
        return [result for _ in idx]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None for _ in range(self.num_envs)]
        return [self.core.render(i) for i in range(self.num_envs)]  # type: ignore[misc]
