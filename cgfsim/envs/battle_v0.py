"""cgfsim's multi-agent battle in PettingZoo's own module layout (as ``pistonball_v6`` has it).

Every unit of both sides is an agent (see
:class:`~cgfsim.envs.parallel.CgfsimParallelEnv` for spaces, rewards, state
and ``info``)::

    from cgfsim.envs import battle_v0

    penv = battle_v0.parallel_env(scenario="skirmish", obs="entities", max_cycles=100)
    aec = battle_v0.env(scenario="duel", render_mode="human")  # AEC, wrapped
    raw = battle_v0.raw_env(scenario="duel")  # AEC, without PettingZoo's wrappers

``env()`` is the AEC form through ``parallel_to_aec`` with PettingZoo's standard
wrappers (``AssertOutOfBoundsWrapper``, ``OrderEnforcingWrapper``), so
``pettingzoo.test``'s ``api_test``, ``seed_test``, ``max_cycles_test``,
``render_test`` and ``state_test`` take this module or its functions as they
take PettingZoo's own environments. Every function takes the keyword arguments
of ``CgfsimParallelEnv`` (``scenario``, ``path``, ``obs``, ``dict_obs``,
``render_mode``, ``combat``, ``max_cycles``).
"""

from __future__ import annotations

from typing import Any

from pettingzoo import AECEnv
from pettingzoo.utils import wrappers
from pettingzoo.utils.conversions import parallel_to_aec_wrapper

from cgfsim.envs.parallel import CgfsimParallelEnv

__all__ = ["env", "parallel_env", "raw_env"]


def parallel_env(**kwargs: Any) -> CgfsimParallelEnv:
    """The native ``ParallelEnv``: all agents act at once."""
    return CgfsimParallelEnv(**kwargs)


def raw_env(**kwargs: Any) -> AECEnv:
    """The AEC form without PettingZoo's checking wrappers (agents take turns)."""
    return parallel_to_aec_wrapper(parallel_env(**kwargs))


def env(**kwargs: Any) -> AECEnv:
    """The AEC form with PettingZoo's standard wrappers, as its own ``env()`` functions do."""
    aec = raw_env(**kwargs)
    aec = wrappers.AssertOutOfBoundsWrapper(aec)
    return wrappers.OrderEnforcingWrapper(aec)
