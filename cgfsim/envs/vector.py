"""Gymnasium's vector API over the batched core: what ``gymnasium.make_vec`` returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cgfsim.envs import _common as C
from cgfsim.envs.batched import BatchedCommanderEnv, Obs


class CgfsimVectorEnv(VectorEnv):
    """B worlds of one engine behind :class:`gymnasium.vector.VectorEnv`.

    Autoreset mode is ``SAME_STEP``: a world that ends returns the next
    episode's first observation in the same ``step``, with the final one in
    ``infos["final_obs"][i]`` and its episode info (outcome, kills, ...) in
    ``infos["final_info"]`` (masked by ``infos["_final_obs"]``), as
    Gymnasium's ``SyncVectorEnv(autoreset_mode=SAME_STEP)`` does. Keyword
    arguments are those of :class:`~cgfsim.envs.batched.BatchedCommanderEnv`.
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 (the libraries' API: a class-level dict)
        "render_modes": list(C.RENDER_MODES),
        "autoreset_mode": AutoresetMode.SAME_STEP,
        "render_fps": 8,
    }

    def __init__(
        self, num_envs: int = 1, scenario: C.ScenarioLike | None = None, **kwargs: Any
    ) -> None:
        self.core = BatchedCommanderEnv(scenario, num_envs, autoreset=True, **kwargs)
        self.num_envs = self.core.num_envs
        self.render_mode = self.core.render_mode
        self.single_observation_space = self.core.observation_space
        self.single_action_space = self.core.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Obs, dict[str, Any]]:
        if isinstance(seed, int):
            super().reset(seed=seed)
        return self.core.reset(seed, options), {}

    def step(self, actions: Any) -> tuple[Obs, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, rew, term, trunc, infos = self.core.step(actions)
        out: dict[str, Any] = {}
        for i, info in enumerate(infos):
            if info:
                final = dict(info)
                final_obs = final.pop("terminal_observation")
                final.pop("TimeLimit.truncated")
                out = self._add_info(out, {"final_obs": final_obs, "final_info": final}, i)
        return obs, rew, term, trunc, out

    def action_masks(self) -> np.ndarray:
        """(B, sum(nvec)) bool masks of the current state."""
        return self.core.action_masks()

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode is None:
            return None
        return tuple(self.core.render(i) for i in range(self.num_envs))

    @property
    def engine(self) -> Any:
        return self.core.engine


def make_vector_env(num_envs: int = 1, **kwargs: Any) -> CgfsimVectorEnv:
    """``vector_entry_point`` of the registered ids."""
    return CgfsimVectorEnv(num_envs, **kwargs)
