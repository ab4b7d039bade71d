"""``cgfsim train --resume RUN_DIR``: killed RL and GA runs continue from their resume point.

A kill is simulated in-process by a budget hook that raises mid-run (after a
resume point was committed and before the next), or for real by SIGKILL of a
``cgfsim train`` subprocess once its first resume point exists.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cgfsim.agents.checkpoints import load_checkpoint, save_checkpoint
from cgfsim.agents.ga import train_ga
from cgfsim.agents.resume import RESUME_DIR, open_run, resume_run
from cgfsim.agents.rl import algo_class, train_rl
from cgfsim.agents.runs import DataAccount, append_curve_row, read_curve
from cgfsim.cli import main
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)
CGFSIM = Path(sys.executable).with_name("cgfsim")
GA_HP = {"pop": 6, "episodes_per_ind": 2, "hidden": [8]}
RL_HP = {"n_envs": 8, "n_steps": 8, "batch_size": 64, "n_epochs": 1, "hidden": [16]}


class Killed(Exception):
    """Stands in for SIGKILL: raised by the budget hook mid-run."""


def kill_after(calls: int) -> Any:
    """A budget hook that raises on its ``calls``-th call."""
    seen = [0]

    def hook(account: DataAccount, make_policy: Any) -> None:
        seen[0] += 1
        if seen[0] >= calls:
            raise Killed(account.env_steps)

    return hook


def _params(path: str | Path) -> np.ndarray:
    policy = load_checkpoint(path)[0]
    return torch.nn.utils.parameters_to_vector(policy.parameters()).detach().numpy()


@pytest.mark.parametrize(("method", "steps", "gen"), [("ga", 3000, 2), ("cmaes", 1500, 1)])
def test_resumed_ga_equals_the_uninterrupted_run(
    tmp_path: Path, method: str, steps: int, gen: int
) -> None:
    hp = GA_HP if method == "ga" else {**GA_HP, "hidden": [2]}  # CMA-ES: eigh of N x N
    kw: dict[str, Any] = dict(
        steps=steps, seed=3, hparams=hp, eval_episodes=6, eval_every=steps // 5, method=method
    )
    kw.update(progress=False, tensorboard=False)
    whole = train_ga("duel", "random", out_dir=tmp_path / "whole", **kw)
    run = tmp_path / "killed"
    with pytest.raises(Killed):  # killed mid-way through generation gen + 1
        train_ga("duel", "random", out_dir=run, budget_hook=kill_after(gen + 2), **kw)
    assert not (run / "result.json").exists()
    point = open_run(run)
    assert point.state["generation"] == gen and point.total_steps == steps
    again = resume_run(point, progress=False, tensorboard=False)
    assert again["env_steps"] == whole["env_steps"] >= steps
    assert whole["generations"] > gen + 1
    assert again["generations"] == whole["generations"]
    keys = ("env_steps", "win_rate")
    assert [[r[k] for k in keys] for r in again["curve"]] == [
        [r[k] for k in keys] for r in whole["curve"]
    ]
    assert [[r[k] for k in keys] for r in read_curve(run)] == [
        [r[k] for k in keys] for r in whole["curve"]
    ]
    np.testing.assert_array_equal(_params(again["final_dir"]), _params(whole["final_dir"]))
    np.testing.assert_array_equal(_params(again["policy_dir"]), _params(whole["policy_dir"]))
    book = json.loads((run / "logbook.json").read_text())
    ref = json.loads((tmp_path / "whole" / "logbook.json").read_text())
    drop = ("wall_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in book] == [
        {k: v for k, v in r.items() if k not in drop} for r in ref
    ]
    assert [p.name for p in sorted((run / RESUME_DIR).iterdir())] == [
        f"ga-{whole['generations']}.npz",
        "scenario.toml",
        "state.json",
    ]


@pytest.fixture(scope="module")
def rl_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A tiny PPO run killed after 128 env steps, with a torn-off curve row, then resumed."""
    run = tmp_path_factory.mktemp("rl") / "run"
    kw: dict[str, Any] = dict(steps=256, hparams=RL_HP, eval_episodes=4, progress=False)
    with pytest.raises(Killed):
        train_rl("ppo", "duel", "random", out_dir=run, budget_hook=kill_after(4), **kw)
    state = json.loads((run / RESUME_DIR / "state.json").read_text())
    assert state["env_steps"] == 128 and not (run / "result.json").exists()
    # a kill between a curve row (and best/) and the next resume point leaves them past it
    append_curve_row(run, {**read_curve(run)[-1], "env_steps": 192})
    policy, spec, meta = load_checkpoint(run / "best")
    save_checkpoint(run / "best", policy, spec, {**meta, "env_steps": 192, "win_rate": 1.0})
    res = resume_run(open_run(run), progress=False, tensorboard=False)
    return run, res


def test_killed_rl_run_resumes_to_its_total(rl_run: tuple[Path, dict[str, Any]]) -> None:
    run, res = rl_run
    assert res["env_steps"] == 256
    steps = [r["env_steps"] for r in read_curve(run)]
    assert steps == sorted(set(steps)) and steps[-1] == 256 and 192 in steps
    assert [r["env_steps"] for r in res["curve"]] == steps
    assert json.loads((run / "config.json").read_text())["steps"] == 256
    _, _, meta = load_checkpoint(run / "best")
    assert meta["env_steps"] in steps
    assert load_checkpoint(run / "final")[2]["env_steps"] == 256
    model = algo_class("ppo").load(str(run / "sb3_model.zip"), device="cpu")
    assert model.num_timesteps == 256
    assert (run / "progress-to-128.csv").exists() and (run / "progress.csv").exists()
    best = load_checkpoint(run / "best")[2]  # the one saved past the point, or a later one
    assert (res["best_env_steps"], res["best_win_rate"]) == (best["env_steps"], best["win_rate"])
    assert res["best_win_rate"] >= 1.0
    assert sorted(p.name for p in (run / RESUME_DIR).iterdir()) == [
        "rl-256.zip",
        "scenario.toml",
        "state.json",
    ]


def test_finished_rl_run_extends_with_more_steps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    hp = {"n_envs": 8, "n_steps": 8, "hidden": [16]}
    kw: dict[str, Any] = dict(steps=128, hparams=hp, eval_episodes=4, progress=False)
    first = train_rl("a2c", "duel", "random", out_dir=run, tensorboard=False, **kw)
    with pytest.raises(CgfsimError, match="finished"):
        open_run(run)
    more = resume_run(open_run(run, 192), progress=False, tensorboard=False)
    assert first["env_steps"] == 128 and more["env_steps"] == 192
    steps = [r["env_steps"] for r in read_curve(run)]
    assert steps == sorted(set(steps)) and steps[-1] == 192 and 128 in steps
    assert load_checkpoint(run / "final")[2]["env_steps"] == 192


def _listing(d: Path) -> dict[str, int]:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in sorted(d.rglob("*"))}


def test_bad_resume_input_is_one_line_and_writes_nothing(
    rl_run: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = rl_run
    (tmp_path / "empty").mkdir()
    bc = tmp_path / "bc"
    bc.mkdir()
    cfg = json.loads((run / "config.json").read_text())
    (bc / "config.json").write_text(json.dumps({**cfg, "algo": "bc"}))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.json").write_text(json.dumps(cfg))
    broken = tmp_path / "broken"
    (broken / RESUME_DIR).mkdir(parents=True)
    (broken / "config.json").write_text(json.dumps(cfg))
    (broken / RESUME_DIR / "scenario.toml").write_text(
        (run / RESUME_DIR / "scenario.toml").read_text()
    )
    (broken / RESUME_DIR / "state.json").write_text(
        json.dumps({"version": 1, "kind": "rl", "env_steps": 64, "file": "../config.json"})
    )
    before = _listing(run)
    for args, match in (
        ([str(tmp_path / "nope")], "no such run folder"),
        ([str(tmp_path / "empty")], "not a run folder"),
        ([str(bc)], "bc runs cannot resume"),
        ([str(fresh)], "no resume point"),
        ([str(broken)], "resume/state.json is not a rl resume point"),
        ([str(run)], "the run is finished (256 env steps); give --steps larger than 256"),
        ([str(run), "--steps", "256"], "already trained on 256 env steps"),
        ([str(run), "--steps", "512", "--algo", "a2c"], "--algo a2c: the run in"),
        ([str(run), "--steps", "512", "--seed", "4"], "--seed 4: the run in"),
        ([str(run), "--steps", "512", "--scenario", "skirmish"], "--scenario Skirmish"),
        ([str(run), "--steps", "512", "--set", "n_envs=4"], "--set cannot be given"),
        ([str(run), "--steps", "512", "--out", str(tmp_path / "o")], "--out cannot be given"),
    ):
        assert main(["train", "--resume", *args, "--quiet"]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("cgfsim: error: ") and match in err[0], err
    assert _listing(run) == before
    assert not (tmp_path / "o").exists()
    with pytest.raises(CgfsimError, match="league run cannot resume"):
        (fresh / "config.json").write_text(json.dumps({**cfg, "league": {"doctrines": []}}))
        open_run(fresh)


def test_sigkilled_cli_run_resumes_to_its_total(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cmd = [str(CGFSIM), "train", "--algo", "ppo", "--scenario", "duel", "--out", str(run)]
    cmd += ["--steps", "640", "--eval-episodes", "4", "--test-episodes", "0", "--quiet"]
    for k, v in {**RL_HP, "n_steps": 16}.items():
        cmd += ["--set", f"{k}={v}".replace(" ", "")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = run / RESUME_DIR / "state.json"
    deadline = time.monotonic() + 120
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    done = json.loads(state.read_text())["env_steps"]
    assert done > 0 and not (run / "result.json").exists()
    total = 640
    out = subprocess.run(
        [str(CGFSIM), "train", "--resume", str(run), "--quiet", "--test-episodes", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f"run folder: {run}" in out.stdout
    res = json.loads((run / "result.json").read_text())
    assert res["env_steps"] == total
    steps = [r["env_steps"] for r in read_curve(run)]
    assert steps == sorted(set(steps)) and steps[-1] == total
    load_checkpoint(run / "best")
    assert json.loads((run / "config.json").read_text())["steps"] == total
