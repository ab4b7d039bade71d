"""One action regime: masked training never takes a masked action; masked export is exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from cgfsim.agents.export import export_sb3
from cgfsim.agents.ga import train_ga
from cgfsim.agents.rl import sb3_policy_kwargs, train_rl
from cgfsim.agents.sb3_policies import MaskedActorCriticPolicy, MaskedRecurrentPolicy
from cgfsim.envs.batched import BatchedCommanderEnv

torch.set_num_threads(1)

TINY = {"n_envs": 16, "n_steps": 16, "hidden": [16], "lstm_hidden": 8, "n_epochs": 2}


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Check every action any learner sends to a batched env against that state's masks."""
    counts = {"actions": 0, "masked": 0}
    real = BatchedCommanderEnv.step

    def step(self: BatchedCommanderEnv, actions: Any) -> Any:
        a = np.asarray(actions, np.int64)
        m = self.action_masks().reshape(self.num_envs, self.n_own, self.n_actions)
        ok = np.take_along_axis(m, a[..., None], -1)[..., 0]
        alive = self.engine.alive[:, self._own] & ~self.engine.done[:, None]
        counts["actions"] += int(alive.sum())  # a dead unit's only action is stay
        counts["masked"] += int((~ok & alive).sum())
        return real(self, actions)

    monkeypatch.setattr(BatchedCommanderEnv, "step", step)
    return counts


@pytest.mark.parametrize(
    ("algo", "policy", "hp"),
    [
        ("ppo", "mlp", {"batch_size": 128}),
        ("a2c", "mlp", {}),
        ("ppo", "lstm", {"batch_size": 128}),
        ("maskable_ppo", "mlp", {"batch_size": 128}),
    ],
)
def test_masked_training_never_takes_a_masked_action(
    tmp_path: Path, audit: dict[str, int], algo: str, policy: str, hp: dict[str, Any]
) -> None:
    kw = {k: v for k, v in TINY.items() if not (algo == "a2c" and k == "n_epochs")}
    train_rl(
        algo,
        "duel",
        "assault",
        policy=policy,
        steps=3000,
        out_dir=tmp_path,
        hparams={**kw, **hp},
        eval_episodes=0,
        progress=False,
        tensorboard=False,
    )
    assert audit["actions"] > 3000 and audit["masked"] == 0


def test_unmasked_training_does_take_masked_actions(tmp_path: Path, audit: dict[str, int]) -> None:
    """The audit can fail: the same run unmasked picks impossible actions all the time."""
    hp = {**TINY, "batch_size": 128, "masked": False}
    train_rl(
        "ppo",
        "duel",
        "assault",
        steps=3000,
        out_dir=tmp_path,
        hparams=hp,
        eval_episodes=0,
        progress=False,
        tensorboard=False,
    )
    assert audit["masked"] > 0.2 * audit["actions"]


def test_ga_acts_over_valid_actions(tmp_path: Path, audit: dict[str, int]) -> None:
    hp = {"pop": 6, "episodes_per_ind": 2, "hidden": [8]}
    train_ga(
        "duel",
        "assault",
        steps=1000,
        out_dir=tmp_path,
        hparams=hp,
        eval_episodes=4,
        progress=False,
        tensorboard=False,
    )
    assert audit["actions"] > 1000 and audit["masked"] == 0


# ------------------------------------------------------------------ export of masked policies

SHAPES = {"vector": (30,), "grid": (5, 8, 8)}
N_UNITS, N_ACTIONS, B = 2, 9, 6


class MaskedToyEnv(gym.Env):
    """The dict spaces of a masked cgfsim env, nothing else."""

    def __init__(self, mode: str) -> None:
        self.observation_space = gym.spaces.Dict(
            {
                "observation": gym.spaces.Box(-1.0, 1.0, SHAPES[mode], np.float32),
                "action_mask": gym.spaces.MultiBinary(N_UNITS * N_ACTIONS),
            }
        )
        self.action_space = gym.spaces.MultiDiscrete([N_ACTIONS] * N_UNITS)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> Any:
        return self.observation_space.sample(), 0.0, False, False, {}


def _inputs(mode: str, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    rng = np.random.default_rng(seed)
    obs = torch.from_numpy(rng.uniform(-1, 1, (B, *SHAPES[mode])).astype(np.float32))
    mask = rng.random((B, N_UNITS * N_ACTIONS)) < 0.5
    mask[:, ::N_ACTIONS] = True  # stay is always valid
    m = torch.from_numpy(mask)
    return {"observation": obs, "action_mask": m.float()}, m


def _scramble(model: Any) -> None:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.policy.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def _log_probs(dist: Any) -> torch.Tensor:
    return torch.stack([d.logits for d in dist.distribution], dim=1)


@pytest.mark.parametrize("mode", ["vector", "grid"])
def test_masked_export_matches_sb3_logits(mode: str) -> None:
    pk = sb3_policy_kwargs(
        "ppo", mode, {"hidden": [32, 32], "features_dim": 24, "cnn_channels": [8, 16]}, masked=True
    )
    model = PPO(
        MaskedActorCriticPolicy,
        DummyVecEnv([lambda: MaskedToyEnv(mode)]),
        policy_kwargs=pk,
        seed=0,
        device="cpu",
    )
    _scramble(model)
    policy, spec = export_sb3(model)
    assert spec.obs_mode == mode and spec.obs_shape == SHAPES[mode]
    model.policy.set_training_mode(False)
    obs, mask = _inputs(mode, 1)
    with torch.no_grad():
        ref = _log_probs(model.policy.get_distribution(obs))
        ours, _ = policy(obs["observation"], action_mask=mask)
        # the same probabilities as the policy evaluation PPO optimises
        _, logp, _ = model.policy.evaluate_actions(obs, torch.zeros(B, N_UNITS))
    torch.testing.assert_close(torch.log_softmax(ours, -1), ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.log_softmax(ours, -1)[..., 0].sum(-1), logp, rtol=0, atol=1e-5)
    assert (ref.exp()[~mask.view(B, N_UNITS, N_ACTIONS)] == 0).all()
    acts, _ = policy.act(obs["observation"].numpy(), action_mask=mask.numpy())
    sb3_acts, _ = model.predict({k: v.numpy() for k, v in obs.items()}, deterministic=True)
    np.testing.assert_array_equal(acts, sb3_acts)


def test_masked_recurrent_export_matches_sb3_logits() -> None:
    pk = sb3_policy_kwargs(
        "recurrent_ppo", "vector", {"hidden": [16], "lstm_hidden": 8}, masked=True
    )
    model = RecurrentPPO(
        MaskedRecurrentPolicy,
        DummyVecEnv([lambda: MaskedToyEnv("vector")]),
        policy_kwargs=pk,
        seed=0,
        device="cpu",
    )
    _scramble(model)
    policy, spec = export_sb3(model)
    assert spec.core == "lstm" and spec.lstm_hidden == 8
    model.policy.set_training_mode(False)
    ours_state = policy.initial_state(B)
    sb3_state = (torch.zeros(1, B, 8), torch.zeros(1, B, 8))
    for t in range(4):
        obs, mask = _inputs("vector", t)
        start = torch.zeros(B)
        start[t % B] = 1.0
        with torch.no_grad():
            ours, ours_state = policy(obs["observation"], ours_state, start, mask)
            dist, sb3_state = model.policy.get_distribution(obs, sb3_state, start)
        torch.testing.assert_close(torch.log_softmax(ours, -1), _log_probs(dist), rtol=0, atol=1e-6)
