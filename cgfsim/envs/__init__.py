"""Environments over the cgfsim engine: Gymnasium single-agent, batched, vector and PettingZoo.

- :class:`CommanderEnv` (``commander``): ``gymnasium.Env``, one world, the learner commands
  one side against a doctrine;
- :class:`BatchedCommanderEnv` (``batched``): the torch-free core, B worlds of one engine,
  auto-reset;
- :class:`CgfsimVectorEnv` (``vector``): ``gymnasium.vector.VectorEnv``, what ``make_vec``
  returns;
- ``CgfsimVecEnv`` (``sb3``): the SB3 ``VecEnv`` adapter; imports torch, so it is not
  re-exported here;
- :class:`CgfsimParallelEnv` (``parallel``): PettingZoo ``ParallelEnv``, one agent per unit;
  ``battle_v0``: the same in PettingZoo's module layout (``env()`` AEC, ``raw_env()``,
  ``parallel_env()``); ``state``: the full-information world state for centralised critics;
- ``OUTCOMES``: ``info["outcome"]`` code -> name (1 win, 0 draw, -1 loss);
- :class:`ObservationBuilder` / :class:`MaskBuilder`: observations and action masks of a side.

Classes are imported on first access, so ``import cgfsim.envs`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "CommanderEnv": "cgfsim.envs.commander",
    "BatchedCommanderEnv": "cgfsim.envs.batched",
    "CgfsimVectorEnv": "cgfsim.envs.vector",
    "CgfsimParallelEnv": "cgfsim.envs.parallel",
    "parallel_env": "cgfsim.envs.parallel",
    "ObservationBuilder": "cgfsim.envs.observations",
    "MaskBuilder": "cgfsim.envs.masks",
    "to_engine_actions": "cgfsim.envs.observations",
    "OBS_MODES": "cgfsim.envs.observations",
    "register_envs": "cgfsim.envs.registration",
    "OUTCOMES": "cgfsim.envs._common",
    "outcome_name": "cgfsim.envs._common",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cgfsim.envs' has no attribute {name!r}")
