"""Exported SB3 policies give the same logits as SB3's own distributions."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO, RecurrentPPO
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from cgfsim.agents.encoders import EntityExtractor, GridExtractor
from cgfsim.agents.export import export_sb3
from cgfsim.agents.rl import sb3_policy_kwargs
from cgfsim.agents.sb3_policies import MaskedActorCriticPolicy, MaskedRecurrentPolicy
from cgfsim.envs.observations import observation_shape
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)

SHAPES = {m: observation_shape("duel", m) for m in ("vector", "grid", "entities")}
N_UNITS, N_ACTIONS, B = 2, 9, 6


class ToyEnv(gym.Env):
    """Spaces of a cgfsim env and nothing else: export needs no dynamics.

    ``masked``: the masked regime's dict observations ``{observation, action_mask}``.
    """

    def __init__(self, mode: str, masked: bool = False) -> None:
        box = gym.spaces.Box(-1.0, 1.0, SHAPES[mode], np.float32)
        self.observation_space: gym.Space = box
        if masked:
            mask = gym.spaces.MultiBinary(N_UNITS * N_ACTIONS)
            self.observation_space = gym.spaces.Dict({"observation": box, "action_mask": mask})
        self.action_space = gym.spaces.MultiDiscrete([N_ACTIONS] * N_UNITS)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> Any:
        return self.observation_space.sample(), 0.0, False, False, {}

    def action_masks(self) -> np.ndarray:
        return np.ones(N_UNITS * N_ACTIONS, dtype=bool)


def policy_kwargs(mode: str, recurrent: bool = False) -> dict[str, Any]:
    kw: dict[str, Any] = {"net_arch": {"pi": [32, 32], "vf": [32, 32]}}
    if mode == "grid":
        kw.update(features_extractor_class=GridExtractor, normalize_images=False)
        kw["features_extractor_kwargs"] = {"features_dim": 24, "channels": (8, 16)}
    elif mode == "entities":
        kw.update(features_extractor_class=EntityExtractor, normalize_images=False)
        kw["features_extractor_kwargs"] = {"features_dim": 24, "embed_dim": 16, "heads": 2}
    if recurrent:
        kw.update(lstm_hidden_size=16, shared_lstm=False, enable_critic_lstm=True)
    return kw


def scramble(model: Any, seed: int = 0) -> None:
    """Random weights everywhere: SB3's 0.01-gain action_net would make any test pass."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.policy.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def make_obs(mode: str, batch: int = B, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (batch, *SHAPES[mode])).astype(np.float32)
    if mode == "entities":
        obs[..., 0] = rng.random(obs.shape[:2]) < 0.6
        obs[0, :, 0] = 0.0  # a world with no valid row
    return obs


def sb3_log_probs(dist: Any) -> torch.Tensor:
    parts = getattr(dist, "distribution", None) or dist.distributions  # SB3 vs sb3-contrib
    return torch.stack([d.logits for d in parts], dim=1)


@pytest.mark.parametrize(
    ("algo", "mode"),
    [
        (PPO, "vector"),
        (A2C, "vector"),
        (PPO, "grid"),
        (PPO, "entities"),
        (MaskablePPO, "vector"),
    ],
)
def test_feedforward_export_matches_sb3(algo: Any, mode: str) -> None:
    env = DummyVecEnv([lambda: ToyEnv(mode)])
    model = algo("MlpPolicy", env, policy_kwargs=policy_kwargs(mode), seed=0, device="cpu")
    scramble(model)
    policy, spec = export_sb3(model)
    assert (spec.obs_mode, spec.core, spec.hidden) == (mode, "mlp", (32, 32))
    obs = make_obs(mode)
    model.policy.set_training_mode(False)
    with torch.no_grad():
        obs_t = torch.from_numpy(obs)
        ours, _ = policy(obs_t)
        if algo is MaskablePPO:
            rng = np.random.default_rng(1)
            mask = rng.random((B, N_UNITS * N_ACTIONS)) < 0.5
            mask[:, 0] = True
            ref = sb3_log_probs(model.policy.get_distribution(obs_t, action_masks=mask))
            ours_masked, _ = policy(obs_t, action_mask=torch.from_numpy(mask))
            torch.testing.assert_close(torch.log_softmax(ours_masked, -1), ref, rtol=0, atol=1e-6)
            ref = sb3_log_probs(model.policy.get_distribution(obs_t))
        else:
            ref = sb3_log_probs(model.policy.get_distribution(obs_t))
    torch.testing.assert_close(torch.log_softmax(ours, -1), ref, rtol=0, atol=1e-6)
    actions, _ = policy.act(obs)
    sb3_actions, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, sb3_actions)


@pytest.mark.parametrize("mode", ["vector", "grid"])
def test_recurrent_export_matches_sb3(mode: str) -> None:
    env = DummyVecEnv([lambda: ToyEnv(mode)])
    model = RecurrentPPO(
        "MlpLstmPolicy", env, policy_kwargs=policy_kwargs(mode, True), seed=0, device="cpu"
    )
    scramble(model, 1)
    policy, spec = export_sb3(model)
    assert (spec.core, spec.lstm_hidden) == ("lstm", 16)
    model.policy.set_training_mode(False)
    starts = np.zeros((5, B), dtype=np.float32)
    starts[0] = 1.0
    starts[2, [1, 4]] = 1.0  # some worlds restart mid-sequence
    ours_state = policy.initial_state(B)
    sb3_state = (torch.zeros(1, B, 16), torch.zeros(1, B, 16))
    act_state, np_state = None, None
    for t in range(5):
        obs = torch.from_numpy(make_obs(mode, seed=t))
        es = torch.from_numpy(starts[t])
        with torch.no_grad():
            ours, ours_state = policy(obs, ours_state, episode_start=es)
            dist, sb3_state = model.policy.get_distribution(obs, sb3_state, es)
        ref = sb3_log_probs(dist)
        torch.testing.assert_close(torch.log_softmax(ours, -1), ref, rtol=0, atol=1e-6)
        assert ours_state is not None
        torch.testing.assert_close(ours_state[0], sb3_state[0], rtol=0, atol=1e-6)
        # The numpy paths (CgfPolicy.act, SB3 predict) agree step by step, too.
        a_ours, act_state = policy.act(obs.numpy(), act_state, episode_start=starts[t])
        a_sb3, np_state = model.predict(
            obs.numpy(), state=np_state, episode_start=starts[t], deterministic=True
        )
        np.testing.assert_array_equal(a_ours, a_sb3)


def test_refuses_unknown_extractor() -> None:
    env = DummyVecEnv([lambda: ToyEnv("grid")])
    model = PPO("MlpPolicy", env, seed=0, device="cpu")  # FlattenExtractor on a grid
    with pytest.raises(CgfsimError, match="not a vector observation"):
        export_sb3(model)


def random_mask(seed: int) -> torch.Tensor:
    mask = np.random.default_rng(seed).random((B, N_UNITS * N_ACTIONS)) < 0.5
    mask[:, ::N_ACTIONS] = True  # stay is always valid
    return torch.from_numpy(mask)


@pytest.mark.parametrize("mode", ["vector", "grid", "entities"])
def test_masked_regime_export_matches_sb3(mode: str) -> None:
    """PPO's masked-logits policy (dict observations) exports to the same masked logits."""
    layout = {"hidden": [32, 32], "features_dim": 24, "cnn_channels": [8, 16], "embed_dim": 16}
    pk = sb3_policy_kwargs("ppo", mode, {**layout, "attn_heads": 2}, masked=True)
    env = DummyVecEnv([lambda: ToyEnv(mode, masked=True)])
    model = PPO(MaskedActorCriticPolicy, env, policy_kwargs=pk, seed=0, device="cpu")
    scramble(model)
    policy, spec = export_sb3(model)
    assert spec.obs_mode == mode and spec.obs_shape == SHAPES[mode]
    model.policy.set_training_mode(False)
    mask = random_mask(1)
    obs = {"observation": torch.from_numpy(make_obs(mode)), "action_mask": mask.float()}
    with torch.no_grad():
        ref = sb3_log_probs(model.policy.get_distribution(obs))
        ours, _ = policy(obs["observation"], action_mask=mask)
        # ... and the log-probabilities PPO optimises (evaluate_actions) agree too
        _, logp, _ = model.policy.evaluate_actions(obs, torch.zeros(B, N_UNITS))
    torch.testing.assert_close(torch.log_softmax(ours, -1), ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.log_softmax(ours, -1)[..., 0].sum(-1), logp, atol=1e-5, rtol=0)
    assert (ref.exp()[~mask.view(B, N_UNITS, N_ACTIONS)] == 0).all()
    acts, _ = policy.act(obs["observation"].numpy(), action_mask=mask.numpy())
    sb3_acts, _ = model.predict({k: v.numpy() for k, v in obs.items()}, deterministic=True)
    np.testing.assert_array_equal(acts, sb3_acts)


def test_masked_recurrent_export_matches_sb3() -> None:
    pk = sb3_policy_kwargs("recurrent_ppo", "vector", {"hidden": [16], "lstm_hidden": 8}, True)
    env = DummyVecEnv([lambda: ToyEnv("vector", masked=True)])
    model = RecurrentPPO(MaskedRecurrentPolicy, env, policy_kwargs=pk, seed=0, device="cpu")
    scramble(model, 2)
    policy, spec = export_sb3(model)
    assert spec.core == "lstm" and spec.lstm_hidden == 8
    model.policy.set_training_mode(False)
    ours_state = policy.initial_state(B)
    sb3_state = (torch.zeros(1, B, 8), torch.zeros(1, B, 8))
    for t in range(4):
        mask = random_mask(t)
        obs = {
            "observation": torch.from_numpy(make_obs("vector", seed=t)),
            "action_mask": mask.float(),
        }
        start = torch.zeros(B)
        start[t % B] = 1.0
        with torch.no_grad():
            ours, ours_state = policy(obs["observation"], ours_state, start, mask)
            dist, sb3_state = model.policy.get_distribution(obs, sb3_state, start)
        ref = sb3_log_probs(dist)
        torch.testing.assert_close(torch.log_softmax(ours, -1), ref, rtol=0, atol=1e-6)
