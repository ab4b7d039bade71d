"""What every RL Baselines3 Zoo config in ``experiments/rlzoo`` shares.

The Zoo ``exec``s a ``-conf`` Python file on its own, so the configs cannot
import each other; they import this instead. Observations follow the map
size: ``vector`` (MLP) on Duel's 8x8 map, ``grid`` through the project's CNN
on the 24x24 maps, ``entities`` through its attention encoder on RandomField,
whose maps change every episode. The hidden layers are the scenario's own
layout (``[network]`` of ``defaults.toml``, as ``cgfsim train`` builds them),
so a Zoo model and a cgfsim one have the same network.
"""

from __future__ import annotations

from typing import Any

from cgfsim.agents.recipe import network_layout
from cgfsim.agents.rl import sb3_policy_kwargs
from cgfsim.envs.registration import builtin_ids

#: Observation mode per env id; every other built-in uses ``grid``.
OBS = {"cgfsim/Duel-v0": "vector", "cgfsim/RandomField-v0": "entities"}


def env_ids() -> list[str]:
    """Every built-in scenario's Gymnasium id."""
    return list(builtin_ids())


def zoo_env(env_id: str, algo: str, **policy: Any) -> dict[str, Any]:
    """``env_kwargs`` and ``policy_kwargs`` of ``env_id`` for SB3 ``algo``; ``policy`` overrides."""
    obs = OBS.get(env_id, "grid")
    scenario = env_id.split("/", 1)[-1].removesuffix("-v0")
    pol = {"hidden": network_layout(scenario)["hidden"], **policy}
    return {
        "env_kwargs": {"obs": obs, "opponent": "random"},
        "policy_kwargs": sb3_policy_kwargs(algo, obs, pol),
    }
