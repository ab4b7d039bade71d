"""Helpers of the export tests: observations recorded from real episodes, policies."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from cgfsim.agents.networks import CgfPolicy, PolicySpec, build_policy
from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.sim.splits import world_keys

torch.set_num_threads(1)


@dataclass
class Recording:
    """Time-major (T, B, ...) observations, episode starts and masks of B worlds."""

    obs: np.ndarray
    start: np.ndarray
    mask: np.ndarray
    spec: PolicySpec  # the env's spaces; the architecture fields are defaults


def record(scenario: str, mode: str, steps: int, n: int = 6, side: int = 0) -> Recording:
    """Play valid random actions against ``assault`` on test-split worlds, auto-resetting.

    ``steps`` beyond the scenario's time limit guarantees every world restarts at
    least once inside the recording (LSTM state resets mid-sequence).
    """
    env = BatchedCommanderEnv(scenario, n, side=side, opponent="assault", obs=mode)
    rng = np.random.default_rng(7)
    obs = np.asarray(env.reset(world_keys("test", 0, n)))
    start = np.ones(n, bool)
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for _ in range(steps):
        m = env.action_masks().reshape(n, env.n_own, env.n_actions)
        rows.append((obs.copy(), start.copy(), m.copy()))
        p = rng.random(m.shape) * m
        obs, _, term, trunc, _ = env.step(p.argmax(-1))
        obs = np.asarray(obs)
        start = term | trunc
    o, s, m = (np.stack(c) for c in zip(*rows, strict=True))
    spec = PolicySpec.from_spaces(env.observation_space, env.action_space, obs_mode=mode)
    return Recording(o, s, m, spec)


def make_policy(rec: Recording, core: str, seed: int = 0, **kw: object) -> CgfPolicy:
    """A policy for ``rec``'s spaces whose logits are O(1) (the action head's gain raised),
    so near-ties cannot hide a wrong graph and greedy actions are well separated."""
    spec = PolicySpec(
        rec.spec.obs_mode,
        rec.spec.obs_shape,
        rec.spec.n_units,
        rec.spec.n_actions,
        core=core,
        hidden=(32, 32),
        lstm_hidden=32,
        features_dim=32,
        embed_dim=16,
        cnn_channels=(8, 16),
        **kw,  # type: ignore[arg-type]
    )
    policy = build_policy(spec, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        torch.nn.init.orthogonal_(policy.action_net.weight, gain=math.sqrt(2))
        torch.nn.init.normal_(policy.action_net.bias, std=0.5)
    return policy.eval()
