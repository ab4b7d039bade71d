"""Checkpoints of every learner export, and the export plays exactly as the checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cgfsim.agents.checkpoints import load_checkpoint, save_checkpoint
from cgfsim.agents.evaluation import _network_act, _quotas, evaluate, run_episodes
from cgfsim.agents.export import export_sb3
from cgfsim.agents.export_onnx.player import load_exported
from cgfsim.agents.rl import CgfRecurrentPolicy, algo_class, init_lstm, sb3_policy_kwargs
from cgfsim.cli import main
from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.envs.sb3 import CgfsimVecEnv
from cgfsim.sim.splits import key_base
from tests.export.helpers import Recording

TEST_KEYS = key_base("test", 0)  # held-out worlds


@pytest.fixture(scope="module")
def ga_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GA-trained checkpoint (a few generations on Duel)."""
    out = tmp_path_factory.mktemp("ga") / "run"
    hp = ["--set", "pop=6", "--set", "episodes_per_ind=2", "--set", "hidden=[16]"]
    args = ["train", "--algo", "ga", "--scenario", "duel", "--steps", "600", "--seed", "1"]
    assert main([*args, "--out", str(out), "--eval-episodes", "0", "--quiet", *hp]) == 0
    return out / "final"


def sb3_checkpoint(root: Path, algo: str, obs: str) -> Path:
    """What PPO / A2C / MaskablePPO / RecurrentPPO save: their actor copied into a CgfPolicy."""
    pol: dict[str, Any] = {"hidden": [16], "features_dim": 32, "embed_dim": 16, "lstm_hidden": 16}
    pol["cnn_channels"] = (8, 16)
    venv = CgfsimVecEnv("duel", 4, obs=obs)
    model = algo_class(algo)(
        CgfRecurrentPolicy if algo == "recurrent_ppo" else "MlpPolicy",
        venv,
        policy_kwargs=sb3_policy_kwargs(algo, obs, pol),
        n_steps=8,
        seed=0,
        device="cpu",
        **({} if algo == "a2c" else {"batch_size": 32}),
    )
    if algo == "recurrent_ppo":
        init_lstm(model)
    policy, spec = export_sb3(model)
    meta = {"algo": algo, "scenario": "duel", "side": "blue", "obs": obs}
    return save_checkpoint(root / algo, policy, spec, meta)


@pytest.mark.parametrize(
    ("algo", "obs"),
    [("ppo", "grid"), ("a2c", "vector"), ("maskable_ppo", "entities"), ("recurrent_ppo", "vector")],
)
def test_sb3_learners_export(
    tmp_path: Path, recordings: dict[str, Recording], algo: str, obs: str
) -> None:
    ck = sb3_checkpoint(tmp_path, algo, obs)
    assert main(["export", str(ck), "--out", str(tmp_path / "ex")]) == 0
    net, spec, meta = load_exported(tmp_path / "ex")
    policy, _, _ = load_checkpoint(ck)
    assert meta["algo"] == algo and spec == policy.spec
    rec = recordings[obs]
    x = rec.obs[:20].reshape(-1, *rec.obs.shape[2:])  # as a batch (episode starts ignored)
    with torch.no_grad():
        want, _ = policy(torch.as_tensor(x))
    got, _, _ = net.logits(x)
    assert np.abs(got - want.numpy()).max() <= 1e-5


def _actions_and_episodes(net: Any, mode: str) -> tuple[np.ndarray, Any]:
    """Every greedy (masked) decision of ``net`` over 48 held-out episodes vs assault."""
    env = BatchedCommanderEnv("duel", 16, opponent="assault", obs=mode, autoreset=False)
    inner = _network_act(net, True, 0)
    log: list[np.ndarray] = []

    def act(obs: np.ndarray, start: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        a = inner(obs, start, mask)
        log.append(np.asarray(a).copy())
        return a

    recs = run_episodes(env, act, _quotas(48, 16), TEST_KEYS, masked=True)
    return np.stack(log), recs


@pytest.mark.parametrize("which", ["ga-mlp", "rppo-lstm"])
def test_export_plays_as_the_checkpoint(tmp_path: Path, ga_checkpoint: Path, which: str) -> None:
    """Same greedy actions at every decision, hence the same episodes and win/draw/loss."""
    ck = ga_checkpoint if which == "ga-mlp" else sb3_checkpoint(tmp_path, "recurrent_ppo", "vector")
    ex = tmp_path / "ex"
    assert main(["export", str(ck), "--out", str(ex)]) == 0
    torch_net, spec, _ = load_checkpoint(ck)
    onnx_net, _, _ = load_exported(ex)
    a_torch, r_torch = _actions_and_episodes(torch_net, spec.obs_mode)
    a_onnx, r_onnx = _actions_and_episodes(onnx_net, spec.obs_mode)
    assert a_torch.shape == a_onnx.shape and a_torch.size > 1000
    assert (a_torch == a_onnx).all()
    for f in ("world", "outcome", "length", "own_losses", "enemy_losses"):
        assert (getattr(r_torch, f) == getattr(r_onnx, f)).all(), f
    assert len(r_torch.outcome) == 48 and len(set(r_torch.outcome.tolist())) > 1
    kw: dict[str, Any] = dict(scenario="duel", opponent="random", episodes=40, seed=TEST_KEYS)
    for greedy in (True, False):  # sampling draws alike from the same seeded generator
        res = [evaluate(p, deterministic=greedy, **kw).to_dict() for p in (ck, ex)]
        for r in res:
            r.pop("policy"), r.pop("wall_s")
        assert res[0] == res[1]


def test_cli_evaluate_and_play_take_an_exported_folder(
    tmp_path: Path, ga_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ex = tmp_path / "ex"
    assert main(["export", str(ga_checkpoint), "--out", str(ex)]) == 0
    assert "policy.onnx" in capsys.readouterr().out
    assert main(["evaluate", str(ex), "--opponent", "assault", "--episodes", "8"]) == 0
    out = capsys.readouterr().out
    assert f"{ex} (blue, vector) vs assault" in out and "greedy over valid actions" in out
    args = ["play", "duel", "--blue", str(ex), "--red", str(ga_checkpoint), "--episodes", "6"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"blue {ex} vs red {ga_checkpoint}" in out and "blue wins" in out
    assert main(["tournament", f"{ex},{ga_checkpoint},random", "--scenario", "duel",
                 "--episodes", "4", "--quiet"]) == 0  # fmt: skip
