"""One action regime: masked training never takes a masked action, for every learner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cgfsim.agents.ga import train_ga
from cgfsim.agents.rl import train_rl
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
